"""The workers' side of the job queue (design §2): claim with one conditional UPDATE, leases
and heartbeats, requeue on expiry, the reports workers send, and the end of an attempt.

A message counts only for the attempt the job is running now, and only from the worker token
that claimed that attempt: a worker that lost its lease (and was replaced) is refused, so two
workers never write into one attempt, and no token speaks for another's job. A token reads a
dataset version only while it runs a job on it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import case, exists, func, insert, select, update
from sqlalchemy.orm import Session, object_session

from app.audit import service as audit
from app.core import job_paths, protocol
from app.core.generation import COUNTS_INPUTS
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.i18n import N_
from app.jobs import workers
from app.jobs.artifacts import check_checkpoint
from app.locking import locked
from app.models import (
    DatasetVersionItem,
    EvalPrediction,
    ItemDynamics,
    Job,
    JobLog,
    JobMetric,
    Preflight,
)
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
            claim_token_id=None,  # the token that lost the lease no longer speaks for the job
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def claim(
    *,
    session: Session,
    worker: str,
    token_id: int,
    device: protocol.WorkerDevice | None = None,
    kinds: Sequence[str] = ("finetune",),
) -> Job | None:
    """Take the oldest queued job that the worker's ``device`` can run (``app.jobs.workers``,
    which also records the device) with one conditional UPDATE; two claimers never both win.
    The claiming token (``token_id``) alone may then report on the attempt. Only jobs of
    ``kinds`` are handed out (a worker that predates generation jobs runs fine-tunes only),
    higher ``priority`` first."""
    workers.record(session=session, name=worker, device=device)
    requeue_expired(session=session)
    now = utcnow()
    candidate = (
        select(Job.id)
        .where(Job.status == "queued", Job.kind.in_(kinds), *workers.runnable(device))
        .order_by(Job.priority.desc(), Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    claimed = session.execute(
        update(Job)
        .where(Job.id == candidate.scalar_subquery(), Job.status == "queued")
        .values(
            status="running",
            worker=worker,
            claim_token_id=token_id,
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
        kind=job.kind,
        dataset_version_id=job.dataset_version_id,
        generation=job.generation,
        base_model=job.base_model,
        params=protocol.JobParams(**job.params),
        lease_seconds=int(LEASE.total_seconds()),
        # Checked when reported; one stored before names were required starts afresh.
        resume_from=job.checkpoint if protocol.is_checkpoint_name(job.checkpoint) else None,
        artifact_dir=str(job_paths.JobFolder.of(artifacts_root, job.id).path),
        start_from=start_from(job, artifacts_root=artifacts_root),
    )


def start_from(job: Job | Preflight, *, artifacts_root: str) -> protocol.StartFrom | None:
    """The finished job whose tuned model ``job`` (or a pre-flight check of a launch)
    continues from, with that job's folder."""
    if job.start_job_id is None:
        return None
    parent = object_session(job).get(Job, job.start_job_id)
    if parent is None:
        return None
    return protocol.StartFrom(
        job_id=parent.id,
        method=parent.params.get("method", "lora"),
        artifact_dir=str(job_paths.JobFolder.of(artifacts_root, parent.id).path),
    )


def check_reader(*, session: Session, token_id: int, version_id: int) -> None:
    """A worker token reads a dataset version only while it runs a job (or a pre-flight
    check) on that version."""
    holds = session.scalar(
        select(
            exists().where(
                Job.dataset_version_id == version_id,
                Job.status == "running",
                Job.claim_token_id == token_id,
            )
            | exists().where(
                Preflight.dataset_version_id == version_id,
                Preflight.status == "running",
                Preflight.claim_token_id == token_id,
            )
        )
    )
    if not holds:
        raise Forbidden(
            N_(
                "This worker token runs no job on dataset version %(id)s; a worker reads only "
                "the version of the job it claimed."
            ),
            id=version_id,
        )


def running_attempt(session: Session, job_id: int, attempt: int, token_id: int) -> Job:
    """The job, if this message comes from the token that claimed its current attempt and
    belongs to that attempt; otherwise refuse it."""
    job = locked(session, Job, job_id)
    if job is None:
        raise NotFound(N_("No job with id %(id)s."), id=job_id)
    if job.claim_token_id is None or job.claim_token_id != token_id:
        raise Forbidden(
            N_(
                "This worker token does not hold job %(id)s: only the token that claimed its "
                "current attempt may report on it."
            ),
            id=job_id,
        )
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
    *,
    session: Session,
    job_id: int,
    beat: protocol.Heartbeat,
    token_id: int,
    artifacts_root: str | Path,
) -> protocol.HeartbeatReply:
    job = running_attempt(session, job_id, beat.attempt, token_id)
    if beat.checkpoint:
        # The next attempt resumes from it: a name of this job's own checkpoint folders only.
        check_checkpoint(artifacts_root=artifacts_root, job_id=job.id, name=beat.checkpoint)
    job.lease_until = utcnow() + LEASE
    if job.kind != "generate" or (job.generation or {}).get("task") not in COUNTS_INPUTS:
        job.step = beat.step  # a draft or augmentation job counts its inputs as they are written
    job.total_steps = beat.total_steps or job.total_steps
    job.epoch = beat.epoch
    if beat.checkpoint:
        job.checkpoint = beat.checkpoint
    session.flush()
    return protocol.HeartbeatReply(
        cancel=job.cancel_requested, lease_seconds=int(LEASE.total_seconds())
    )


def record_metrics(
    *, session: Session, job_id: int, batch: protocol.MetricBatch, token_id: int
) -> int:
    job = running_attempt(session, job_id, batch.attempt, token_id)
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


def record_logs(*, session: Session, job_id: int, batch: protocol.LogBatch, token_id: int) -> int:
    job = running_attempt(session, job_id, batch.attempt, token_id)
    now = utcnow()
    session.execute(
        insert(JobLog),
        [
            {"job_id": job.id, "attempt": batch.attempt, "line": line, "at": now}
            for line in batch.lines
        ],
    )
    return len(batch.lines)


def _check_items(session: Session, job: Job, item_ids: set[int]) -> None:
    """Reports name items of the job's own dataset version only."""
    wanted = sorted(item_ids)
    known: set[int] = set()
    for start in range(0, len(wanted), 500):
        known.update(
            session.scalars(
                select(DatasetVersionItem.item_id).where(
                    DatasetVersionItem.version_id == job.dataset_version_id,
                    DatasetVersionItem.item_id.in_(wanted[start : start + 500]),
                )
            )
        )
    strangers = [i for i in wanted if i not in known]
    if strangers:
        raise InvalidInput(
            N_("Items %(ids)s are not in this job's dataset version."),
            ids=", ".join(f"#{i}" for i in strangers[:10]),
        )


def record_dynamics(
    *, session: Session, job_id: int, batch: protocol.DynamicsBatch, token_id: int
) -> int:
    job = running_attempt(session, job_id, batch.attempt, token_id)
    _check_items(session, job, {p.item_id for p in batch.points})
    session.execute(
        insert(ItemDynamics), [{"job_id": job.id, **p.model_dump()} for p in batch.points]
    )
    return len(batch.points)


def record_predictions(
    *, session: Session, job_id: int, batch: protocol.PredictionBatch, token_id: int
) -> int:
    job = running_attempt(session, job_id, batch.attempt, token_id)
    _check_items(session, job, {p.item_id for p in batch.predictions})
    session.execute(
        insert(EvalPrediction), [{"job_id": job.id, **p.model_dump()} for p in batch.predictions]
    )
    return len(batch.predictions)


def finish(
    *,
    session: Session,
    job_id: int,
    attempt: int,
    token_id: int,
    status: str,
    error: str | None = None,
    metrics: dict[str, Any] | None = None,
    artifacts: list[str] | None = None,
    step: int | None = None,
) -> Job:
    job = running_attempt(session, job_id, attempt, token_id)
    if status == "cancelled" and not job.cancel_requested:
        raise Conflict(N_("Nobody asked to cancel job %(id)s."), id=job_id)
    job.status = status
    job.error = error
    counted_here = job.kind == "generate" and (job.generation or {}).get("task") in COUNTS_INPUTS
    if step is not None and not counted_here:  # the last step done: heartbeats only sample it
        job.step = step
    # A generation job's figures were counted as its batches came in; the worker adds to them.
    job.metrics = {**job.metrics, **metrics} if metrics else job.metrics
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
