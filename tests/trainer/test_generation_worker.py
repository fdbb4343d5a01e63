"""Generation jobs through the real worker loop (``trainer.worker.serve``) and the tiny model,
against the real app in process: drafted outputs land as model-drafted revisions written for
the person who launched the job, an item edited meanwhile is skipped and counted, cancel and
retry work, augmentation links each draft to its source, a bootstrap reports what it
proposed, filtered and kept, and nothing a job writes is approved."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core.generation import GenerationSpec
from app.core.job_paths import API_ROOT
from app.items import service as items
from app.items.repository import ItemFilter
from app.items.schemas import ItemDraft
from app.jobs import service as jobs
from app.jobs.generation import launch
from app.models import AuditEvent, GenerationInput, Item, ItemRevision, Job
from app.tokens import service as tokens
from tests.dataset_factories import approved_project
from trainer.client import AppClient
from trainer.worker import serve

SMALL = dict(max_new_tokens=6, batch_size=2, seed=5)
PROMPTS = [
    "Name three rivers in Europe and say which country each flows through.",
    "Write a haiku about a quiet morning in the mountains.",
    "Explain what a prime number is to a ten-year-old.",
]


def _worker(app, db_session) -> AppClient:
    raw = tokens.create_token(
        session=db_session, name="w", scope="worker", owner=None, actor=None
    ).raw
    worker = AppClient("http://testserver", raw)
    worker.http = TestClient(
        app, base_url="http://testserver" + API_ROOT, headers={"Authorization": f"Bearer {raw}"}
    )
    return worker


def _prompts(db_session, project, author) -> list[Item]:
    return [
        items.create_item(
            session=db_session,
            project=project,
            draft=ItemDraft(kind="task", instruction=text, language="en"),
            author=author,
        )
        for text in PROMPTS
    ]


def _launch(db_session, project, admin, settings, **spec) -> Job:
    return launch.launch(
        session=db_session,
        project_id=project.id,
        spec=GenerationSpec(**{**SMALL, **spec}),
        base_model="tiny",
        actor=admin,
        item_filter=ItemFilter(project_id=project.id),
        artifacts_root=settings.resolved_artifacts_dir,
    )


def _states(db_session, job_id: int) -> dict[str, int]:
    rows = db_session.execute(
        select(GenerationInput.state, func.count())
        .where(GenerationInput.job_id == job_id)
        .group_by(GenerationInput.state)
    ).all()
    return dict(rows)


def test_drafts_land_as_model_drafted_revisions_and_edits_are_never_overwritten(
    app, db_session, settings
):
    project, admin, approved = approved_project(db_session, name="Drafting")
    author = db_session.get(Item, approved[0].id).author_id
    prompts = _prompts(db_session, project, db_session.get(type(admin), author))
    job = _launch(db_session, project, admin, settings, task="draft")
    # Only the items without an output are read: the approved ones have theirs.
    assert job.total_steps == len(PROMPTS)
    # Someone edits one prompt after the job read it: the job must not overwrite it.
    edited = items.update_item(
        session=db_session,
        item_id=prompts[0].id,
        draft=ItemDraft(kind="task", instruction=PROMPTS[0] + " Be brief.", language="en"),
        expected_version=prompts[0].version,
        editor=db_session.get(type(admin), author),
    )
    db_session.flush()

    serve("http://testserver", "", once=True, client=_worker(app, db_session))

    db_session.expire_all()
    job = db_session.get(Job, job.id)
    assert job.status == "succeeded", job.error
    assert job.metrics["skipped"].get("edited") == 1
    written = [db_session.get(Item, p.id) for p in prompts[1:]]
    assert job.metrics["written"] == sum(1 for i in written if i.output) >= 1
    for item in written:
        if not item.output:
            continue
        assert item.drafted_job_id == job.id and item.draft_edit_ratio == 0.0
        assert item.status == "draft"  # nothing a job writes is approved or even submitted
        revision = db_session.scalar(
            select(ItemRevision).where(
                ItemRevision.item_id == item.id, ItemRevision.version == item.version
            )
        )
        assert revision.job_id == job.id
        assert revision.editor_id == admin.id  # the launcher counts as its author
    untouched = db_session.get(Item, edited.id)
    assert untouched.output == "" and untouched.drafted_job_id is None
    assert untouched.version == edited.version
    assert all(db_session.get(Item, i.id).drafted_job_id is None for i in approved)
    assert _states(db_session, job.id) == {
        "done": job.metrics["written"],
        "skipped": 3 - job.metrics["written"],
    }
    drafted_events = db_session.scalar(
        select(func.count()).where(
            AuditEvent.action == "item.drafted", AuditEvent.actor_label == f"job:{job.id}"
        )
    )
    assert drafted_events == job.metrics["written"]


def test_cancel_then_retry_reads_only_what_was_not_done(app, db_session, settings):
    project, admin, approved = approved_project(db_session, name="Cancel and retry")
    author = db_session.get(type(admin), approved[0].author_id)
    _prompts(db_session, project, author)
    job = _launch(db_session, project, admin, settings, task="draft")
    jobs.cancel(session=db_session, job_id=job.id, actor=admin)
    assert job.status == "cancelled"
    worker = _worker(app, db_session)
    serve("http://testserver", "", once=True, client=worker)  # nothing to claim
    assert db_session.get(Job, job.id).status == "cancelled"
    assert all(i.drafted_job_id is None for i in db_session.scalars(select(Item)))

    again = jobs.retry(
        session=db_session,
        job_id=job.id,
        actor=admin,
        artifacts_root=settings.resolved_artifacts_dir,
    )
    assert again.kind == "generate" and again.parent_id == job.id
    assert _states(db_session, again.id) == {"pending": len(PROMPTS)}
    serve("http://testserver", "", once=True, client=worker)
    db_session.expire_all()
    assert db_session.get(Job, again.id).status == "succeeded"
    assert _states(db_session, again.id).get("pending") is None
    assert (
        db_session.scalar(
            select(func.count()).where(
                AuditEvent.action == "job.cancelled", AuditEvent.entity_id == str(job.id)
            )
        )
        == 1
    )


def test_paraphrase_makes_linked_drafts_that_keep_their_source(app, db_session, settings):
    project, admin, approved = approved_project(db_session, name="Augment")
    sources = {i.id: (i.instruction, i.output, i.constraints) for i in approved}
    job = _launch(
        db_session,
        project,
        admin,
        settings,
        task="paraphrase",
    )
    serve("http://testserver", "", once=True, client=_worker(app, db_session))
    db_session.expire_all()
    job = db_session.get(Job, job.id)
    assert job.status == "succeeded", job.error
    made = list(db_session.scalars(select(Item).where(Item.origin == "augmented")))
    assert len(made) == job.metrics["written"] >= 1
    for item in made:
        source_id = item.provenance["item_id"]
        instruction, output, constraints = sources[source_id]
        assert item.provenance["method"] == "paraphrase" and item.provenance["job_id"] == job.id
        assert item.output == output and item.constraints == constraints
        assert item.instruction != instruction
        assert item.status == "draft" and item.author_id == admin.id
    # The sources are untouched.
    for item_id, (instruction, output, _) in sources.items():
        source = db_session.get(Item, item_id)
        assert (source.instruction, source.output, source.status) == (
            instruction,
            output,
            "approved",
        )


def test_bootstrap_reports_proposed_filtered_and_kept(app, db_session, settings):
    project, admin, _ = approved_project(db_session, name="Bootstrap")
    job = _launch(
        db_session,
        project,
        admin,
        settings,
        task="bootstrap",
        rounds=2,
        prompts_per_round=2,
        few_shot=3,
        max_new_tokens=24,
    )
    assert job.total_steps == 4
    serve("http://testserver", "", once=True, client=_worker(app, db_session))
    db_session.expire_all()
    job = db_session.get(Job, job.id)
    assert job.status == "succeeded", job.error
    m = job.metrics
    # Every prompt's continuation is either read as candidates or counted unreadable.
    assert m["proposed"] >= 4
    assert m["kept"] + sum(m["filtered"].values()) == m["proposed"]
    generated = list(db_session.scalars(select(Item).where(Item.origin == "generated")))
    assert len(generated) == m["kept"]
    assert all(i.status == "draft" and i.provenance["round"] in (1, 2) for i in generated)
    assert job.step == 4


def test_a_running_job_stops_when_cancelled_and_keeps_what_it_wrote(app, db_session, settings):
    from trainer.generate import run_generation

    project, admin, approved = approved_project(db_session, name="Cancel running")
    author = db_session.get(type(admin), approved[0].author_id)
    _prompts(db_session, project, author)
    job = _launch(db_session, project, admin, settings, task="draft", batch_size=1)
    worker = _worker(app, db_session)
    spec = worker.claim("w:1", None, ("generate",))
    assert spec is not None and spec.job_id == job.id
    jobs.cancel(session=db_session, job_id=job.id, actor=admin)  # running: the worker is asked
    db_session.flush()

    run_generation(worker, spec)  # its first heartbeat's reply says stop

    db_session.expire_all()
    job = db_session.get(Job, job.id)
    assert job.status == "cancelled" and job.finished_at is not None
    assert _states(db_session, job.id) == {"pending": len(PROMPTS)}  # stopped before a batch
    assert all(i.drafted_job_id is None for i in db_session.scalars(select(Item)))
