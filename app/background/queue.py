"""The background task queue (design §2): enqueue, claim with one conditional UPDATE, leases
extended by heartbeats and checkpoints, requeue on expiry, cancel, and the end of an attempt.

Every write about a running task names the attempt it speaks for: once a lease has expired and
another process has claimed the task, the old attempt's heartbeats, checkpoints and result are
refused (``LostLease``), so two processes never both finish one task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.errors import Conflict, NotFound
from app.i18n import N_
from app.models import BackgroundTask, User
from app.models.background import FINISHED_STATES
from app.models.base import utcnow

DEFAULT_LEASE = timedelta(minutes=2)
# A task whose worker stopped heartbeating this many attempts is failed, not requeued.
MAX_ATTEMPTS = 3


class LostLease(Exception):
    """The attempt no longer holds the task: its lease expired and it was requeued or taken."""


def enqueue(
    session: Session,
    *,
    kind: str,
    project_id: int | None,
    payload: dict[str, Any],
    actor: User | None,
    phase: str = "queued",
    total: int = 0,
    details: dict[str, Any] | None = None,
) -> BackgroundTask:
    """Queue a task; the request that calls this returns at once. ``total``: the work known
    now (0: found out as it runs); ``details``: what the audit event says besides the kind."""
    task = BackgroundTask(
        kind=kind,
        project_id=project_id,
        payload=payload,
        phase=phase,
        total=total,
        max_attempts=MAX_ATTEMPTS,
        created_by=actor.id if actor else None,
    )
    session.add(task)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="task.queued",
        entity_type="background_task",
        entity_id=task.id,
        after={"kind": kind, "project": project_id, **(details or {})},
    )
    return task


def requeue_expired(session: Session) -> int:
    """Running tasks whose lease ran out go back to the queue; the claimer resumes them from
    their last checkpoint (or fails them after the last allowed attempt)."""
    result = session.execute(
        update(BackgroundTask)
        .where(BackgroundTask.state == "running", BackgroundTask.lease_until < utcnow())
        .values(state="queued", worker=None, lease_until=None, phase="requeued")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def claim(
    session: Session, *, worker: str, lease: timedelta, task_id: int | None = None
) -> BackgroundTask | None:
    """Take the oldest queued task (or the one named) with one conditional UPDATE; two
    claimers never both win. The caller commits."""
    requeue_expired(session)
    now = utcnow()
    candidate = select(BackgroundTask.id).where(BackgroundTask.state == "queued")
    if task_id is not None:
        candidate = candidate.where(BackgroundTask.id == task_id)
    candidate = candidate.order_by(BackgroundTask.id).limit(1).with_for_update(skip_locked=True)
    claimed = session.execute(
        update(BackgroundTask)
        .where(BackgroundTask.id == candidate.scalar_subquery(), BackgroundTask.state == "queued")
        .values(
            state="running",
            worker=worker[:200],
            lease_until=now + lease,
            heartbeat_at=now,
            attempts=BackgroundTask.attempts + 1,
            started_at=func.coalesce(BackgroundTask.started_at, now),
        )
        .returning(BackgroundTask.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if claimed is None:
        return None
    return session.scalar(
        select(BackgroundTask)
        .where(BackgroundTask.id == claimed)
        .execution_options(populate_existing=True)
    )


def _held(task_id: int, attempt: int):
    return (
        BackgroundTask.id == task_id,
        BackgroundTask.attempts == attempt,
        BackgroundTask.state == "running",
    )


def heartbeat(
    session: Session,
    *,
    task_id: int,
    attempt: int,
    lease: timedelta,
    progress: tuple[str, int, int] | None,
) -> bool:
    """Extend the lease (and store the latest progress). Answers whether cancelling was
    asked for; raises ``LostLease`` when the attempt no longer holds the task."""
    return _renew(session, task_id, attempt, lease, progress)


def save_checkpoint(
    session: Session,
    *,
    task_id: int,
    attempt: int,
    lease: timedelta,
    checkpoint: dict[str, Any],
    progress: tuple[str, int, int],
) -> bool:
    """Store the checkpoint in the caller's transaction, beside the work it describes; the
    caller commits both together. Answers whether cancelling was asked for."""
    return _renew(session, task_id, attempt, lease, progress, checkpoint=checkpoint)


def _renew(
    session: Session,
    task_id: int,
    attempt: int,
    lease: timedelta,
    progress: tuple[str, int, int] | None,
    **values: Any,
) -> bool:
    """Extend the attempt's lease, with ``values`` and the progress, if the attempt still
    holds the task: the cancel flag, or ``LostLease``."""
    now = utcnow()
    values.update(lease_until=now + lease, heartbeat_at=now)
    if progress is not None:
        values.update(phase=progress[0][:32], done=progress[1], total=progress[2])
    cancel = session.execute(
        update(BackgroundTask)
        .where(*_held(task_id, attempt))
        .values(**values)
        .returning(BackgroundTask.cancel_requested)
        .execution_options(synchronize_session=False)
    ).scalar()
    if cancel is None:
        raise LostLease(task_id)
    return cancel


def finish(
    session: Session,
    *,
    task_id: int,
    attempt: int,
    state: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """End the attempt in the caller's transaction, with the work's last writes."""
    assert state in FINISHED_STATES
    values: dict[str, Any] = {
        "state": state,
        "finished_at": utcnow(),
        "lease_until": None,
        "error": error,
    }
    if result is not None:
        values["result"] = result
    if state == "done":
        values["phase"] = "done"
        values["done"] = BackgroundTask.total
    ended = session.execute(
        update(BackgroundTask)
        .where(*_held(task_id, attempt))
        .values(**values)
        .returning(BackgroundTask.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if ended is None:
        raise LostLease(task_id)


def release(session: Session, *, task_id: int, attempt: int) -> None:
    """Hand a task back to the queue at once (its process is stopping); this attempt does not
    count against the task's allowed attempts."""
    session.execute(
        update(BackgroundTask)
        .where(*_held(task_id, attempt))
        .values(
            state="queued",
            worker=None,
            lease_until=None,
            phase="requeued",
            attempts=case((BackgroundTask.attempts > 0, BackgroundTask.attempts - 1), else_=0),
        )
        .execution_options(synchronize_session=False)
    )


def request_cancel(session: Session, *, task: BackgroundTask, actor: User) -> bool:
    """Ask a task to stop. A queued task is cancelled now (answers True, and the caller
    settles what it was for); a running one stops at its next progress report."""
    if task.finished:
        raise Conflict(N_("This task has already finished."))
    queued = task.state == "queued"
    task.cancel_requested = True
    if queued:
        task.state = "cancelled"
        task.phase = "cancelled"
        task.finished_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="task.cancelled" if queued else "task.cancel_requested",
        entity_type="background_task",
        entity_id=task.id,
        after={"kind": task.kind, "project": task.project_id},
    )
    return queued


RETRYABLE_STATES = ("failed", "cancelled")


def requeue_for_retry(session: Session, *, task: BackgroundTask, actor: User) -> None:
    """Put a failed or cancelled task back in the queue as it stopped: its checkpoint kept (the
    next attempt resumes after the last committed batch), its attempts, error and cancel
    request cleared. One conditional UPDATE: two retries at once queue it once."""
    retry_refused = Conflict(
        N_("Only a failed or cancelled task can be retried; this one is %(state)s."),
        state=task.state,
    )
    if task.state not in RETRYABLE_STATES:
        raise retry_refused
    error, resumes = task.error, bool(task.checkpoint)
    requeued = session.execute(
        update(BackgroundTask)
        .where(BackgroundTask.id == task.id, BackgroundTask.state.in_(RETRYABLE_STATES))
        .values(
            state="queued",
            phase="requeued" if resumes else "queued",
            attempts=0,
            error=None,
            cancel_requested=False,
            worker=None,
            lease_until=None,
            heartbeat_at=None,
            finished_at=None,
        )
        .returning(BackgroundTask.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if requeued is None:
        raise retry_refused
    session.refresh(task)
    audit.record(
        session,
        actor=actor,
        action="task.retried",
        entity_type="background_task",
        entity_id=task.id,
        before={"error": error},
        after={"kind": task.kind, "project": task.project_id, "resumes": resumes},
    )


def get(session: Session, task_id: int) -> BackgroundTask:
    task = session.get(BackgroundTask, task_id)
    if task is None:
        raise NotFound(N_("No background task with id %(id)s."), id=task_id)
    return task


def of_project(session: Session, project_id: int, *, limit: int = 50) -> list[BackgroundTask]:
    return list(
        session.scalars(
            select(BackgroundTask)
            .where(BackgroundTask.project_id == project_id)
            .order_by(BackgroundTask.id.desc())
            .limit(limit)
        )
    )


def depth(session: Session) -> dict[str, int]:
    """How many tasks are queued and running (for operators)."""
    rows = session.execute(
        select(BackgroundTask.state, func.count())
        .where(BackgroundTask.state.in_(("queued", "running")))
        .group_by(BackgroundTask.state)
    ).all()
    return {"queued": 0, "running": 0, **dict(rows)}
