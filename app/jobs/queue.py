"""The workers' side of the job queue (design §2): claim with one conditional UPDATE, leases
and heartbeats, requeue on expiry, the reports workers send, and the end of an attempt.

A message counts only for the attempt the job is running now: a worker that lost its lease
(and was replaced) is refused, so two workers never write into one attempt."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import protocol
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.locking import locked
from app.models import EvalPrediction, ItemDynamics, Job, JobLog, JobMetric
from app.models.base import utcnow

LEASE = timedelta(minutes=2)


def requeue_expired(*, session: Session) -> int:
    """Jobs whose worker stopped heartbeating go back to the queue, or fail after the
    last attempt."""
    now = utcnow()
    exhausted = Job.attempts >= Job.max_attempts
    result = session.execute(
        update(Job)
        .where(Job.status == "running", Job.lease_until < now)
        .values(
            status=case((exhausted, "failed"), else_="queued"),
            error=case(
                (exhausted, "The worker stopped responding on the last allowed attempt."),
                else_=Job.error,
            ),
            finished_at=case((exhausted, now), else_=None),
            worker=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def claim(*, session: Session, worker: str) -> Job | None:
    """Take the oldest queued job with one conditional UPDATE; two claimers never both win."""
    requeue_expired(session=session)
    now = utcnow()
    candidate = (
        select(Job.id)
        .where(Job.status == "queued")
        .order_by(Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    claimed = session.execute(
        update(Job)
        .where(Job.id == candidate.scalar_subquery(), Job.status == "queued")
        .values(
            status="running",
            worker=worker,
            lease_until=now + LEASE,
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now),
            cancel_requested=False,
        )
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if claimed is None:
        return None
    return session.scalar(
        select(Job).where(Job.id == claimed).execution_options(populate_existing=True)
    )


def spec(job: Job, *, artifacts_root: str) -> protocol.JobSpec:
    """What the worker that claimed ``job`` receives."""
    return protocol.JobSpec(
        job_id=job.id,
        attempt=job.attempts,
        dataset_version_id=job.dataset_version_id,
        base_model=job.base_model,
        params=protocol.JobParams(**job.params),
        lease_seconds=int(LEASE.total_seconds()),
        resume_from=job.checkpoint,
        artifact_dir=str(protocol.JobFolder.of(artifacts_root, job.id).path),
    )


def _running(session: Session, job_id: int, attempt: int) -> Job:
    """The job, if this message belongs to its current attempt; otherwise refuse it."""
    job = locked(session, Job, job_id)
    if job is None:
        raise NotFound(N_("No job with id %(id)s."), id=job_id)
    if job.status != "running" or job.attempts != attempt:
        raise Conflict(
            N_(
                "Job %(id)s is not running attempt %(attempt)s (it is %(status)s, "
                "attempt %(running)s); the message was not recorded."
            ),
            id=job_id,
            attempt=attempt,
            status=job.status,
            running=job.attempts,
        )
    return job


def heartbeat(
    *, session: Session, job_id: int, beat: protocol.Heartbeat
) -> protocol.HeartbeatReply:
    job = _running(session, job_id, beat.attempt)
    job.lease_until = utcnow() + LEASE
    job.step = beat.step
    job.total_steps = beat.total_steps or job.total_steps
    job.epoch = beat.epoch
    if beat.checkpoint:
        job.checkpoint = beat.checkpoint
    session.flush()
    return protocol.HeartbeatReply(
        cancel=job.cancel_requested, lease_seconds=int(LEASE.total_seconds())
    )


def record_metrics(*, session: Session, job_id: int, batch: protocol.MetricBatch) -> int:
    job = _running(session, job_id, batch.attempt)
    last = dict(
        session.execute(
            select(JobMetric.name, func.max(JobMetric.step))
            .where(JobMetric.job_id == job.id, JobMetric.attempt == batch.attempt)
            .group_by(JobMetric.name)
        ).all()
    )
    seen: dict[str, int] = {}
    for point in batch.points:
        floor = max(last.get(point.name, -1), seen.get(point.name, -1))
        if point.step < floor:
            raise InvalidInput(
                N_(
                    "Metric %(name)s goes back from step %(last)s to %(step)s; "
                    "nothing was recorded."
                ),
                name=point.name,
                last=floor,
                step=point.step,
            )
        seen[point.name] = point.step
    session.execute(
        insert(JobMetric),
        [
            {
                "job_id": job.id,
                "attempt": batch.attempt,
                "step": p.step,
                "name": p.name,
                "value": p.value,
            }
            for p in batch.points
        ],
    )
    return len(batch.points)


def record_logs(*, session: Session, job_id: int, batch: protocol.LogBatch) -> int:
    job = _running(session, job_id, batch.attempt)
    now = utcnow()
    session.execute(
        insert(JobLog),
        [
            {"job_id": job.id, "attempt": batch.attempt, "line": line[:10_000], "at": now}
            for line in batch.lines
        ],
    )
    return len(batch.lines)


def record_dynamics(*, session: Session, job_id: int, batch: protocol.DynamicsBatch) -> int:
    job = _running(session, job_id, batch.attempt)
    session.execute(
        insert(ItemDynamics), [{"job_id": job.id, **p.model_dump()} for p in batch.points]
    )
    return len(batch.points)


def record_predictions(*, session: Session, job_id: int, batch: protocol.PredictionBatch) -> int:
    job = _running(session, job_id, batch.attempt)
    session.execute(
        insert(EvalPrediction), [{"job_id": job.id, **p.model_dump()} for p in batch.predictions]
    )
    return len(batch.predictions)


def finish(
    *,
    session: Session,
    job_id: int,
    attempt: int,
    status: str,
    error: str | None = None,
    metrics: dict[str, Any] | None = None,
    artifacts: list[str] | None = None,
    step: int | None = None,
) -> Job:
    job = _running(session, job_id, attempt)
    if status == "cancelled" and not job.cancel_requested:
        raise Conflict(N_("Nobody asked to cancel job %(id)s."), id=job_id)
    job.status = status
    job.error = error
    if step is not None:  # the last step done: heartbeats only sample it
        job.step = step
    job.metrics = metrics or job.metrics
    job.artifacts = artifacts or job.artifacts
    job.finished_at = utcnow()
    job.lease_until = None
    session.flush()
    audit.record(
        session,
        actor=None,
        action=f"job.{status}",
        entity_type="job",
        entity_id=job.id,
        actor_label=f"worker:{job.worker}",
        after={"status": status, "error": (error or "")[:500]},
    )
    return job
