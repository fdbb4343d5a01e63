"""An import as a background task: queued by the request, run by any process, committed a
batch at a time with its tally, resumed from the last batch when the process running it dies,
then followed by the pass that indexes its items for search and near-duplicates (a batch at a
time too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Kind, TaskContext
from app.errors import Conflict
from app.i18n import N_
from app.imports import indexer, service
from app.imports.reader import ImportOptions
from app.models import BackgroundTask, ImportJob, User
from app.models.base import utcnow

KIND = "import"


def start(
    *, session: Session, job: ImportJob, options: ImportOptions, actor: User
) -> BackgroundTask:
    """Check the options, then queue the import; the caller's request returns at once."""
    if job.state != "uploaded":
        raise Conflict(N_("This file has already been imported."))
    job.schema = service.check_options(job, options)
    task = queue.enqueue(
        session,
        kind=KIND,
        project_id=job.project_id,
        payload={"import_id": job.id, "options": options.as_dict(), "actor_id": actor.id},
        actor=actor,
    )
    job.options = options.as_dict()
    job.state = "queued"
    job.task_id = task.id
    session.flush()
    return task


def run(session: Session, ctx: TaskContext) -> dict[str, Any]:
    """The rows, a batch at a time; then the follow-up pass, a batch at a time. A resumed
    attempt starts after the last batch an earlier one committed."""
    job_id = ctx.payload["import_id"]
    actor = session.get(User, ctx.payload["actor_id"])
    stage = ctx.checkpoint.get("stage", "rows")
    if stage == "rows":
        resume = ctx.checkpoint.get("tally")

        def commit(tally: dict[str, Any], phase: str, done: int, total: int) -> None:
            ctx.commit(session, {"stage": "rows", "tally": tally}, phase, done, total)

        job = service.run(
            session=session,
            job_id=job_id,
            options=ImportOptions(**ctx.payload["options"]),
            actor=actor,
            progress=ctx.progress,
            commit=commit,
            resume=resume,
            batch_rows=ctx.batch_rows,
        )
        if job.state != "done":
            return _result(job)
        ctx.commit(session, {"stage": "index"}, "indexing", 0, job.created_items, cancellable=False)

    def commit_index(state: dict[str, Any], phase: str, done: int, total: int) -> None:
        # The rows are in: their indexing runs to the end, or the items would stay unsearchable.
        ctx.commit(session, {"stage": "index", **state}, phase, done, total, cancellable=False)

    job = service.job_of(session=session, job_id=job_id)
    indexer.index_imported(
        session=session,
        job=job,
        commit=commit_index,
        after=ctx.checkpoint.get("after", 0),
        done=ctx.checkpoint.get("done", 0),
        batch_size=ctx.batch_rows,
    )
    return _result(job)


def _result(job: ImportJob) -> dict[str, Any]:
    return {
        "import_id": job.id,
        "state": job.state,
        "created": job.created_items,
        "skipped": job.skipped_duplicates,
        "invalid": job.error_count,
    }


def settle(session: Session, ctx: TaskContext, state: str, message: str) -> None:
    """The import failed or was cancelled: say so, and count what earlier batches wrote."""
    job = session.get(ImportJob, ctx.payload["import_id"])
    if job is None or job.state == "done":
        return
    tally = ctx.checkpoint.get("tally") or {}
    job.state = "cancelled" if state == "cancelled" else "failed"
    job.rows_done = tally.get("rows", 0)
    job.created_items = tally.get("created", 0)
    job.skipped_duplicates = tally.get("skipped", 0)
    job.error_count = tally.get("invalid", 0)
    job.errors = tally.get("problems", [])
    job.message = message
    job.finished_at = utcnow()
    session.flush()


def reopen(session: Session, ctx: TaskContext) -> None:
    """A retried import waits again and resumes after its last committed batch, its file still
    there; one whose rows are all in (it stopped in the follow-up pass) resumes that pass."""
    job = session.get(ImportJob, ctx.payload["import_id"])
    if job is None:
        raise Conflict(N_("This import is gone."))
    if job.state == "done":
        return
    if not Path(job.path).is_file():
        raise Conflict(N_("The uploaded file is gone: upload it again to import it."))
    job.state = "queued"
    job.message = None
    job.finished_at = None
    session.flush()


KINDS = {KIND: Kind(run=run, settle=settle, reopen=reopen)}
