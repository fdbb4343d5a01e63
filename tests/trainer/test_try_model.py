"""Try the model through the real worker loop and the tiny model: a try of a finished
fine-tune is claimed before a queued generation job, answers with the starting and the tuned
model side by side, and the page shows the queue while it waits and the answers after."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.core.generation import GenerationSpec
from app.core.job_paths import API_ROOT
from app.core.protocol import JobParams
from app.datasets import freezing
from app.datasets.versions import VersionFilter
from app.items import service as items
from app.items.repository import ItemFilter
from app.items.schemas import ItemDraft
from app.jobs import service as jobs
from app.jobs.generation import launch, trying
from app.models import AuditEvent, Job
from app.tokens import service as tokens
from tests.api_helpers import bearer, member
from tests.dataset_factories import approved_project
from trainer.client import AppClient
from trainer.worker import serve


def _worker(app, db_session) -> AppClient:
    raw = tokens.create_token(
        session=db_session, name="w", scope="worker", owner=None, actor=None
    ).raw
    worker = AppClient("http://testserver", raw)
    worker.http = TestClient(
        app, base_url="http://testserver" + API_ROOT, headers={"Authorization": f"Bearer {raw}"}
    )
    return worker


def _answers_here(settings, tuned: Job, asked: Job) -> dict[str, str]:
    """The starting and the tuned model's answers to the try, generated in this process."""
    from pathlib import Path

    from app.core.generation import GenerationSpec as Spec
    from app.core.job_paths import JobFolder
    from app.core.protocol import JobParams as Params
    from app.core.protocol import JobSpec, StartFrom
    from trainer.generate import Generator
    from trainer.start import _ready, finished_model, starting_weights

    root = settings.resolved_artifacts_dir
    spec = JobSpec(
        job_id=asked.id,
        attempt=1,
        kind="generate",
        base_model=tuned.base_model,
        params=Params(**tuned.params),
        lease_seconds=60,
        artifact_dir=str(JobFolder.of(root, asked.id).path),
        generation=Spec.model_validate(asked.generation),
    )
    start = StartFrom(
        job_id=tuned.id, method="lora", artifact_dir=str(JobFolder.of(root, tuned.id).path)
    )
    model, tokenizer = finished_model(spec, start, seen=set())
    base = starting_weights(spec, JobFolder(Path(start.artifact_dir)), seen=set())
    tokenizer = _ready(tokenizer)
    gen = spec.generation
    return {
        name: Generator(m, tokenizer, gen).chat([gen.messages])[0][0]
        for name, m in (("base", base), ("tuned", model))
    }


def test_a_try_jumps_the_queue_and_answers_side_by_side(app, client, db_session, settings):
    project, admin, approved = approved_project(db_session, name="Try")
    version = freezing.create_version(
        session=db_session,
        project=project,
        name="v",
        f=VersionFilter(),
        actor=admin,
        eval_fraction=0.25,
    )
    tuned = jobs.launch(
        session=db_session,
        version_id=version.id,
        base_model="tiny",
        actor=admin,
        params=JobParams(max_steps=3, batch_size=4, generation={"max_new_tokens": 4}),
    )
    worker = _worker(app, db_session)
    serve("http://testserver", "", once=True, client=worker)
    db_session.expire_all()
    assert db_session.get(Job, tuned.id).status == "succeeded"

    # A generation job queued first, then a try: the try is claimed first.
    items.create_item(
        session=db_session,
        project=project,
        author=admin,
        draft=ItemDraft(kind="task", instruction="Name a bird that cannot fly."),
    )
    drafting = launch.launch(
        session=db_session,
        project_id=project.id,
        actor=admin,
        base_model="tiny",
        spec=GenerationSpec(task="draft", max_new_tokens=4),
        item_filter=ItemFilter(project_id=project.id),
        artifacts_root=settings.resolved_artifacts_dir,
    )
    reviewer = member(db_session, project, "reviewer")
    response = client.post(
        f"/api/v1/jobs/{tuned.id}/try",
        json={"prompt": "Translate sentence 3 into French.", "max_new_tokens": 6},
        headers=reviewer,
    )
    assert response.status_code == 201, response.text
    asked = db_session.get(Job, response.json()["id"])
    assert trying.ahead(db_session, asked) == (0, 0)
    assert trying.ahead(db_session, db_session.get(Job, drafting.id)) == (1, 0)
    page = client.get(f"/jobs/{tuned.id}/try", headers=reviewer)
    assert page.status_code == 200 and f'id="try-{asked.id}"' in page.text
    assert "Waiting for a trainer worker" in page.text

    serve("http://testserver", "", once=True, client=worker)  # takes the try, not the draft
    db_session.expire_all()
    asked = db_session.get(Job, asked.id)
    assert asked.status == "succeeded", asked.error
    assert db_session.get(Job, drafting.id).status == "queued"
    answers = asked.metrics["answers"]
    assert set(answers) == {"base", "tuned"}
    # Each answer is that model's own: the same greedy generation, here, gives the same text.
    expected = _answers_here(settings, db_session.get(Job, tuned.id), asked)
    assert answers == expected
    fragment = client.get(f"/jobs/{tuned.id}/try/{asked.id}", headers=reviewer)
    assert 'class="wrap try-tuned"' in fragment.text and "hx-trigger" not in fragment.text
    launched = (
        db_session.query(AuditEvent).filter_by(action="job.launched", entity_id=str(asked.id)).one()
    )
    assert launched.after["task"] == "try"


def test_a_try_needs_a_finished_fine_tune_and_a_prompt(client, db_session):
    project, admin, _ = approved_project(db_session, name="Try refusals")
    version = freezing.create_version(
        session=db_session, project=project, name="v", f=VersionFilter(), actor=admin
    )
    queued = jobs.launch(
        session=db_session,
        version_id=version.id,
        base_model="tiny",
        actor=admin,
        params=JobParams(),
    )
    headers = bearer(db_session, admin)
    not_done = client.post(f"/api/v1/jobs/{queued.id}/try", json={"prompt": "Hi"}, headers=headers)
    assert not_done.status_code == 422 and "has not succeeded" in not_done.text
    page = client.get(f"/jobs/{queued.id}/try", headers=headers)
    assert 'id="try-not-ready"' in page.text
    annotator = member(db_session, project, "annotator")
    assert (
        client.post(
            f"/api/v1/jobs/{queued.id}/try", json={"prompt": "Hi"}, headers=annotator
        ).status_code
        == 403
    )
