"""The worker API's completion of the demo's job builds the demo's rounds: the one call in
``app/jobs/api.py`` (jobs rank below the demo, so ``app.jobs.queue`` cannot import it)."""

from __future__ import annotations

from sqlalchemy import select

from app.core import job_paths
from app.core.job_paths import WorkerPath
from app.core.kinds import ItemContent
from app.datasets import versions
from app.demo.evaluation import ROUND_NAMES
from app.demo.loader import load_demo
from app.models import EvalRound
from tests.factories import make_token


def test_completing_the_demo_job_over_http_builds_its_closed_rounds(client, db_session, admin_user):
    summary = load_demo(session=db_session, admin=admin_user)
    worker = {"Authorization": f"Bearer {make_token(db_session, scope='worker')}"}
    root = job_paths.API_ROOT
    claimed = client.post(root + WorkerPath.CLAIM, headers=worker, json={"worker": "w"})
    spec = claimed.json()
    assert spec["job_id"] == summary.job_id
    predictions = []
    for link, revision in list(versions.pinned(db_session, summary.version_id)):
        if link.split == "eval":
            content = ItemContent.from_row(revision.snapshot)
            predictions.append(
                {
                    "item_id": link.item_id,
                    "kind": content.kind,
                    "reference": content.output,
                    "base_output": "no idea",
                    "tuned_output": content.output,
                    "scores": {},
                }
            )
    path = root + WorkerPath.PREDICTIONS.format(job_id=spec["job_id"])
    body = {"attempt": spec["attempt"], "predictions": predictions}
    assert client.post(path, headers=worker, json=body).status_code < 300
    path = root + WorkerPath.COMPLETE.format(job_id=spec["job_id"])
    done = client.post(path, headers=worker, json={"attempt": spec["attempt"]})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "succeeded"
    made = db_session.scalars(select(EvalRound).where(EvalRound.a_job_id == spec["job_id"])).all()
    assert sorted(r.name for r in made) == sorted(ROUND_NAMES)
    assert {r.status for r in made} == {"closed"}


def test_completing_the_demo_job_queues_the_drafting_of_its_prompts(
    client, db_session, admin_user, settings
):
    from app.core.job_paths import JobFolder
    from app.models import GenerationInput, Item, Job

    summary = load_demo(session=db_session, admin=admin_user)
    worker = {"Authorization": f"Bearer {make_token(db_session, scope='worker')}"}
    root = job_paths.API_ROOT
    spec = client.post(root + WorkerPath.CLAIM, headers=worker, json={"worker": "w"}).json()
    # The worker leaves its tuned model (and the tiny base it built) in the job's folder.
    folder = JobFolder.of(settings.resolved_artifacts_dir, spec["job_id"])
    folder.model.mkdir(parents=True)
    folder.base.mkdir(parents=True)
    path = root + WorkerPath.COMPLETE.format(job_id=spec["job_id"])
    assert client.post(path, headers=worker, json={"attempt": spec["attempt"]}).status_code == 200
    assert spec["job_id"] == summary.job_id
    drafting = db_session.scalar(select(Job).where(Job.kind == "generate"))
    assert drafting is not None and drafting.start_job_id == spec["job_id"]
    assert drafting.generation["task"] == "draft" and drafting.status == "queued"
    read = db_session.scalars(
        select(Item.provenance["key"].as_string())
        .join(GenerationInput, GenerationInput.item_id == Item.id)
        .where(GenerationInput.job_id == drafting.id)
    ).all()
    assert sorted(read) == sorted(
        f"{lang}-prompt-{name}"
        for lang in ("en", "zh")
        for name in ("bottle", "interview", "blue-sky")
    )
