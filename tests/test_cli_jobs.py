"""`studio jobs …` as real processes on a fresh database: launching with parameters, cancel and
retry, and a finished job and a failed one watched, read and sent back."""

from __future__ import annotations

import click
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli.jobs import parse_params
from app.core import protocol
from app.datasets import versions
from app.jobs import queue
from app.jobs import service as jobs
from app.models import AuditEvent, Item, Job
from tests.factories import make_user
from tests.job_factories import project_version, run_job, worker_token
from tests.test_cli_datasets import as_json, seeded, studio


def _finished_and_failed(session: Session) -> dict:
    """A version, a job that succeeded (two training items it found hard) and one that
    failed, as workers would have reported them."""
    project, admin, version = project_version(session, name="Colours")
    train = [
        link.item_id for link, _ in versions.pinned(session, version.id) if link.split == "train"
    ]
    hard = set(train[:2])
    done, _ = run_job(session, version, admin, hard=hard)
    failed = jobs.launch(
        session=session,
        version_id=version.id,
        base_model="tiny",
        params=protocol.JobParams(max_steps=4),
        actor=admin,
    )
    token = worker_token(session)
    claimed = queue.claim(session=session, worker="w:1", token_id=token)
    queue.finish(
        session=session,
        job_id=failed.id,
        attempt=claimed.attempts,
        token_id=token,
        status="failed",
        error="CUDA out of memory",
    )
    other = make_user(session, role="reviewer", email="lead@example.org")
    return {"version": version.id, "done": done.id, "failed": failed.id, "hard": hard,
            "other": other.email}  # fmt: skip


@pytest.fixture(scope="module")
def setup(backend, tmp_path_factory):
    """One database for the module: each test only adds to it (new jobs, an item sent back)
    and reads what it added or what the seed wrote."""
    with seeded(backend, tmp_path_factory.mktemp("jobs"), _finished_and_failed) as ready:
        yield ready


def test_params_start_from_the_base_models_preset_and_take_json_values():
    params = parse_params("tiny", ("max_steps=4", "generation.max_new_tokens=16", "packing=false",
                                   'lora_targets=["q_proj"]', "schedule=linear"))  # fmt: skip
    assert (params.method, params.max_steps, params.generation.max_new_tokens) == ("full", 4, 16)
    assert (params.packing, params.lora_targets, params.schedule) == (False, ["q_proj"], "linear")
    for wrong in ("epochs=0", "no_such_field=1", "epochs"):
        with pytest.raises(click.BadParameter):
            parse_params("tiny", (wrong,))


def test_launch_cancel_retry(setup):
    env, engine, ids = setup
    launched = studio(
        env, "jobs", "launch", str(ids["version"]), "--param", "max_steps=3",
        "--param", "generation.max_new_tokens=16", "--as", ids["other"],
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr
    job_id = int(launched.stdout.split()[2])
    cancelled = studio(env, "jobs", "cancel", str(job_id))
    assert cancelled.stdout.strip() == f"job {job_id} cancelled"
    retried = studio(env, "jobs", "retry", str(job_id))
    assert retried.returncode == 0, retried.stderr
    with Session(engine) as session:
        job, retry = session.scalars(select(Job).where(Job.id >= job_id).order_by(Job.id)).all()
        assert (job.status, job.params["max_steps"], job.params["generation"]["max_new_tokens"],
                job.params["method"]) == ("cancelled", 3, 16, "full")  # fmt: skip
        assert (retry.status, retry.parent_id, retry.params) == ("queued", job.id, job.params)
        launched_by = session.scalar(
            select(AuditEvent.actor_label).where(
                AuditEvent.action == "job.launched", AuditEvent.entity_id == str(job_id)
            )
        )
        assert launched_by == "lead@example.org"


def test_a_finished_job_watched_read_and_sent_back(setup):
    env, engine, ids = setup
    watched = studio(env, "jobs", "watch", str(ids["done"]))
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.strip() == f"job {ids['done']} succeeded"
    assert "step 6/6  loss 1.500" in watched.stderr  # the last progress line drawn
    failed = studio(env, "jobs", "watch", str(ids["failed"]))
    assert failed.returncode == 1
    assert "error: CUDA out of memory" in failed.stderr

    shown = studio(env, "jobs", "show", str(ids["done"])).stdout
    assert "progress   step 6/6, epoch 3.00, train loss 1.500, best eval loss 1.700" in shown
    assert "log        step 6 loss 1.5" in shown
    results = as_json(studio(env, "jobs", "results", str(ids["done"]), "--json"))
    f1 = {row["metric"]: row for row in results["overall"]}["f1"]
    assert f1["base"] == 0 and f1["tuned"] > 0.5 and f1["delta"] == f1["tuned"]
    assert set(results["per_kind"]) == {"task", "constraint", "example"}
    broken = as_json(studio(env, "jobs", "predictions", str(ids["done"]), "--show", "broken",
                            "--json"))  # fmt: skip
    # The tuned model breaks the no-comma rule of every constraint item, and only those.
    assert broken["matching"] > 0
    assert {p["kind"] for p in broken["predictions"]} == {"constraint"}
    datamap = as_json(studio(env, "jobs", "datamap", str(ids["done"]), "--json"))
    assert {p["item_id"] for p in datamap["hardest"][:2]} == ids["hard"]

    one = min(ids["hard"])
    sent = studio(env, "jobs", "send-back", str(ids["done"]), "--item", str(one))
    assert sent.stdout.strip() == "sent 1 item back to review"
    with Session(engine) as session:
        assert session.get(Item, one).status == "submitted"
