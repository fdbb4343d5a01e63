"""In the browser: the launch form offers DPO only on a version that holds preference pairs
(and says why not on one that holds none), shows DPO's parameters only while DPO is chosen,
and a job to continue from takes its base model into the form, read-only; a refused launch
comes back with its sentence and nothing typed lost. A DPO job's page draws the curves of
its rewards, margin and accuracy."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.db import begin_for_write
from app.models import Job, JobMetric
from app.models.base import utcnow
from tests.browser.conftest import ADMIN_PASSWORD, sign_in
from tests.job_factories import project_version
from tests.pair_factories import DPO_COMPLETION, dpo_points, pairs_version

pytestmark = pytest.mark.browser
_seq = itertools.count(1)
PARENT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def _setup(db, server):
    """A project with pairs (and a finished job whose model is stored) and one without."""
    n = next(_seq)
    db.commit()
    begin_for_write(db)  # the live server may be writing too
    project, admin, with_pairs = pairs_version(db, f"Launch pairs {n}")
    _, _, plain = project_version(db, f"Launch plain {n}")
    # Written directly, as a worker leaves it: the live server's own worker claims anything
    # queued, and this job must not run.
    parent = Job(
        project_id=project.id,
        dataset_version_id=with_pairs.id,
        base_model=PARENT_MODEL,
        params={"method": "lora", "objective": "sft"},
        status="succeeded",
        created_by=admin.id,
        finished_at=utcnow(),
    )
    db.add(parent)
    db.commit()
    _store_model(server, parent.id)
    return with_pairs, plain, parent


def _store_model(server, job_id: int) -> None:
    """The job's model folder in the live server's artifact store."""
    env = server.env
    root = Path(env.get("STUDIO_ARTIFACTS_DIR") or Path(env["STUDIO_VAR_DIR"]) / "artifacts")
    folder = root / "jobs" / str(job_id) / "model"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 16)


def test_dpo_offered_by_version_and_continuing_from_a_job(page, live, db):
    server, _ = live
    with_pairs, plain, parent = _setup(db, server)
    sign_in(page, "admin@example.org", ADMIN_PASSWORD)
    page.goto("/jobs/new")
    dpo = page.locator('input[name="objective"][value="dpo"]')
    params = page.locator("#dpo-params")
    expect(params).to_be_hidden()  # SFT is chosen

    page.select_option("#p-version", str(plain.id))
    expect(page.locator("#objective-note")).to_have_attribute("data-refused", "dpo")
    expect(page.locator("#objective-not-offered")).to_contain_text(
        "holds no preference pairs; DPO learns from pairs."
    )
    expect(dpo).to_be_disabled()
    # A job of another project is not offered to continue from.
    expect(page.locator(f'#p-start option[value="{parent.id}"]')).to_be_disabled()

    page.select_option("#p-version", str(with_pairs.id))
    expect(page.locator("#objective-note")).to_have_attribute("data-refused", "")
    expect(page.locator("#objective-pairs")).to_contain_text("6 preference pairs")
    expect(dpo).to_be_enabled()
    dpo.check()
    expect(params).to_be_visible()
    expect(page.locator("#estimate-table")).to_contain_text("Training pairs per epoch")

    base = page.locator("#p-base")
    expect(base).to_have_value("tiny")
    page.select_option("#p-start", str(parent.id))
    expect(base).to_have_value(PARENT_MODEL)
    expect(base).to_have_attribute("readonly", "")
    expect(page.locator("#start-hint")).to_be_visible()
    page.select_option("#p-start", "")
    expect(base).to_have_value("tiny")
    expect(base).not_to_have_attribute("readonly", "")

    # DPO on the version without pairs: refused with the sentence, the typed beta kept.
    page.locator('input[name="objective"][value="sft"]').check()
    page.select_option("#p-version", str(plain.id))
    expect(dpo).to_be_disabled()
    # As a page without JavaScript (or an old one) would send it: the server refuses it too.
    page.evaluate("document.querySelector('input[name=objective][value=dpo]').disabled = false")
    dpo.check()
    page.fill("#p-dpo_beta", "0.3")
    page.click("#launch")
    expect(page.locator("#launch-errors")).to_contain_text("holds no preference pairs")
    expect(page.locator("#p-dpo_beta")).to_have_value("0.3")
    expect(params).to_be_visible()
    db.commit()
    assert db.scalar(select(Job).where(Job.dataset_version_id == plain.id)) is None


def test_a_dpo_job_page_draws_its_reward_curves(page, live, db):
    server, _ = live
    with_pairs, _plain, parent = _setup(db, server)
    begin_for_write(db)
    job = Job(
        project_id=with_pairs.project_id,
        dataset_version_id=with_pairs.id,
        base_model=PARENT_MODEL,
        params={"method": "lora", "objective": "dpo", "dpo_beta": 0.1},
        status="succeeded",
        created_by=parent.created_by,
        start_job_id=parent.id,
        finished_at=utcnow(),
        metrics=DPO_COMPLETION,
    )
    db.add(job)
    db.flush()
    db.add_all(
        JobMetric(job_id=job.id, attempt=1, step=p.step, name=p.name, value=p.value)
        for p in dpo_points()
    )
    db.commit()
    sign_in(page, "admin@example.org", ADMIN_PASSWORD)
    page.goto(f"/jobs/{job.id}")
    for chart in ("loss-chart", "rewards-chart", "margin-chart", "accuracy-chart"):
        expect(page.locator(f"#{chart} canvas")).to_have_count(1)
    expect(page.locator("#rewards-chart")).to_contain_text("chosen (train)")
    expect(page.locator("#job-reward-accuracy")).to_have_text("100%")
    page.click("#job-start a")
    expect(page).to_have_url(f"{server.url}/jobs/{parent.id}")
    expect(page.locator("#rewards-chart")).to_have_count(0)
    page.goto(f"/jobs/{job.id}/results")
    expect(page.locator("#preference-summary")).to_contain_text(
        "prefers the chosen response on 92%"
    )
