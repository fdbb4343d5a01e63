"""Pre-flight checks of the launch form's settings: created as a launch would be (the same
checks, refused with the same sentences), queued like jobs, taken by workers before any job,
and answered with a report (``app.core.preflight``) or the sentence the job would fail with.

A check's life: ``queued`` until a worker takes it (one conditional UPDATE, only by a worker
whose device can run its settings, as for jobs), ``running`` under a lease, then
``succeeded`` with its report or ``failed`` with a sentence. Only the token that took it may
answer for it. A check whose worker went quiet past its lease is failed when anyone next
reads or claims; so is one no worker took within ``QUEUED_FOR``, and a person's older
waiting check in the same project when they ask for a new one (the form's latest settings
are the ones that matter)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core.devices import WorkerDevice
from app.core.preflight import PreflightReport, PreflightSpec
from app.core.protocol import JobParams
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.i18n import N_
from app.jobs import queue, service, workers
from app.locking import locked
from app.models import DatasetVersionItem, Preflight, User
from app.models.base import utcnow

# No heartbeat: the lease covers the whole check, loading a large model from disk included.
LEASE = timedelta(minutes=10)
# A check nobody took in this long is of settings the person has long moved on from.
QUEUED_FOR = timedelta(hours=1)
# After this long, the panel asks whether a worker is running at all.
WAITING_LONG = timedelta(seconds=30)
FINISHED = ("succeeded", "failed")

STOPPED = N_("The worker stopped answering.")
NOT_TAKEN = N_("No worker took the check within an hour; ask again once a worker is running.")
REPLACED = N_("A newer check of the same project's launch form replaced this one.")


def create(
    *,
    session: Session,
    version_id: int,
    base_model: str | None,
    params: JobParams,
    actor: User,
    start_job_id: int | None = None,
    artifacts_root: str | Path | None = None,
    model_roots: Sequence[Path] = (),
    within: Collection[int] | None = None,
) -> Preflight:
    """Queue a check of the settings a launch would take; refused exactly as the launch
    (``service.check_launch``). The actor's older waiting checks in the project are failed."""
    checked = service.check_launch(
        session=session,
        version_id=version_id,
        base_model=base_model,
        params=params,
        start_job_id=start_job_id,
        artifacts_root=artifacts_root,
        model_roots=model_roots,
        within=within,
    )
    now = utcnow()
    session.execute(
        update(Preflight)
        .where(
            Preflight.created_by == actor.id,
            Preflight.project_id == checked.version.project_id,
            Preflight.status == "queued",
        )
        .values(status="failed", error=REPLACED, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    row = Preflight(
        project_id=checked.version.project_id,
        dataset_version_id=checked.version.id,
        base_model=checked.base_model,
        params=params.model_dump(mode="json"),
        start_job_id=checked.start_job.id if checked.start_job else None,
        created_by=actor.id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="preflight.requested",
        entity_type="preflight",
        entity_id=row.id,
        after={"dataset_version": row.dataset_version_id, "base_model": row.base_model},
    )
    return row


def expire(*, session: Session) -> int:
    """Fail the checks whose worker went quiet past the lease, and those no worker took
    within ``QUEUED_FOR``; how many."""
    now = utcnow()
    count = 0
    for status, since, error in (
        ("running", Preflight.lease_until < now, STOPPED),
        ("queued", Preflight.created_at < now - QUEUED_FOR, NOT_TAKEN),
    ):
        result = session.execute(
            update(Preflight)
            .where(Preflight.status == status, since)
            .values(status="failed", error=error, finished_at=now, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        count += result.rowcount or 0
    return count


def get(*, session: Session, preflight_id: int, within: Collection[int] | None = None) -> Preflight:
    """A check of the projects ``within`` (None: any); one outside reads as missing."""
    row = session.scalar(select(Preflight).where(Preflight.id == preflight_id))
    if row is not None and _overdue(row):
        # Written only when this check is due to fail: the panel reads every second.
        expire(session=session)
        row = session.scalar(
            select(Preflight)
            .where(Preflight.id == preflight_id)
            .execution_options(populate_existing=True)
        )
    if row is None or within is not None and row.project_id not in within:
        raise NotFound(N_("No pre-flight check with id %(id)s."), id=preflight_id)
    return row


def _overdue(row: Preflight) -> bool:
    """Whether ``expire`` would fail this check now."""
    now = utcnow()
    if row.status == "running":
        return row.lease_until is not None and row.lease_until < now
    return row.status == "queued" and row.created_at < now - QUEUED_FOR


def waiting_long(row: Preflight) -> bool:
    """Whether the check has waited for a worker long enough to ask if one is running."""
    return row.status == "queued" and utcnow() - row.created_at > WAITING_LONG


# --- the workers' side -------------------------------------------------------------------------


def claim(
    *,
    session: Session,
    worker: str,
    token_id: int,
    device: WorkerDevice | None = None,
) -> Preflight | None:
    """Take the oldest queued check that the worker's ``device`` can run, with one
    conditional UPDATE (the job claim's rule, ``workers.runnable``); the claiming token alone
    may then answer for it."""
    workers.record(session=session, name=worker, device=device)
    expire(session=session)
    candidate = (
        select(Preflight.id)
        .where(Preflight.status == "queued", *workers.runnable(device, Preflight.params))
        .order_by(Preflight.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    claimed = session.execute(
        update(Preflight)
        .where(Preflight.id == candidate.scalar_subquery(), Preflight.status == "queued")
        .values(
            status="running",
            worker=worker,
            claim_token_id=token_id,
            lease_until=utcnow() + LEASE,
        )
        .returning(Preflight.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if claimed is None:
        return None
    return session.scalar(
        select(Preflight).where(Preflight.id == claimed).execution_options(populate_existing=True)
    )


def spec(row: Preflight, *, artifacts_root: str) -> PreflightSpec:
    """What the worker that took ``row`` receives."""
    return PreflightSpec(
        preflight_id=row.id,
        dataset_version_id=row.dataset_version_id,
        base_model=row.base_model,
        params=JobParams(**row.params),
        start_from=queue.start_from(row, artifacts_root=artifacts_root),
        lease_seconds=int(LEASE.total_seconds()),
    )


def _held(session: Session, preflight_id: int, token_id: int) -> Preflight:
    """The check, if the token that took it is the one answering and it is still running."""
    row = locked(session, Preflight, preflight_id)
    if row is None:
        raise NotFound(N_("No pre-flight check with id %(id)s."), id=preflight_id)
    if row.claim_token_id is None or row.claim_token_id != token_id:
        raise Forbidden(
            N_(
                "This worker token does not hold pre-flight check %(id)s: only the token that "
                "took it may answer for it."
            ),
            id=preflight_id,
        )
    if row.status != "running":
        raise Conflict(
            N_("Pre-flight check %(id)s is not running (it is %(status)s); nothing was recorded."),
            id=preflight_id,
            status=row.status,
        )
    return row


def succeed(
    *, session: Session, preflight_id: int, token_id: int, report: PreflightReport
) -> Preflight:
    """The worker's report; its example must be an item of the check's dataset version."""
    row = _held(session, preflight_id, token_id)
    item = report.example.item_id
    pinned = session.scalar(
        select(DatasetVersionItem.item_id).where(
            DatasetVersionItem.version_id == row.dataset_version_id,
            DatasetVersionItem.item_id == item,
        )
    )
    if pinned is None:
        raise InvalidInput(N_("Item #%(id)s is not in this check's dataset version."), id=item)
    return _finish(session, row, "succeeded", report=report.model_dump(mode="json"))


def fail(*, session: Session, preflight_id: int, token_id: int, error: str) -> Preflight:
    """The sentence the check (and a job of its settings) failed with."""
    return _finish(session, _held(session, preflight_id, token_id), "failed", error=error)


def _finish(session: Session, row: Preflight, status: str, *, report=None, error=None) -> Preflight:
    row.status = status
    row.report = report or {}
    row.error = error
    row.finished_at = utcnow()
    row.lease_until = None
    session.flush()
    return row
