"""The job queue (design §2): launch, claim with one conditional UPDATE, leases and
heartbeats, requeue on expiry, and the reports workers send."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import protocol
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.models import (
    DatasetVersion,
    EvalPrediction,
    ItemDynamics,
    Job,
    JobLog,
    JobMetric,
    Project,
    User,
)
from app.models.base import utcnow

LEASE = timedelta(minutes=2)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
FINISHED = ("succeeded", "failed", "cancelled")


def check_base_model(base_model: str) -> str:
    """``tiny``, a hub id (``org/name``) or a local path."""
    value = base_model.strip()
    if value == "tiny" or HUB_ID.match(value) or value.startswith(("/", "./", "~")):
        return value
    raise InvalidInput(
        N_("The base model must be tiny, a hub id like org/name, or a path."),
        errors={"base_model": N_("Invalid.")},
    )


def launch(
    *,
    session: Session,
    version_id: int,
    base_model: str,
    params: protocol.JobParams,
    actor: User,
    parent: Job | None = None,
) -> Job:
    version = session.get(DatasetVersion, version_id)
    if version is None:
        raise InvalidInput(
            N_("No dataset version with id %(id)s."),
            id=version_id,
            errors={"dataset_version_id": N_("Invalid.")},
        )
    if version.train_count == 0:
        raise InvalidInput(
            N_("This dataset version has no training items."),
            errors={"dataset_version_id": N_("Invalid.")},
        )
    job = Job(
        project_id=version.project_id,
        dataset_version_id=version.id,
        base_model=check_base_model(base_model),
        params=params.model_dump(mode="json"),
        created_by=actor.id,
        parent_id=parent.id if parent else None,
    )
    session.add(job)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="job.retried" if parent else "job.launched",
        entity_type="job",
        entity_id=job.id,
        after={
            "dataset_version": version.id,
            "base_model": job.base_model,
            "parent": job.parent_id,
        },
    )
    return job


def get_job(*, session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(N_("No job with id %(id)s."), id=job_id)
    return job


def cancel(*, session: Session, job_id: int, actor: User) -> Job:
    job = get_job(session=session, job_id=job_id)
    if job.status in FINISHED:
        raise Conflict(N_("The job has already finished (%(status)s)."), status=job.status)
    before = {"status": job.status}
    if job.status == "queued":
        job.status = "cancelled"
        job.finished_at = utcnow()
    else:
        job.cancel_requested = True  # the worker stops at its next heartbeat
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="job.cancelled",
        entity_type="job",
        entity_id=job.id,
        before=before,
        after={"status": job.status, "cancel_requested": job.cancel_requested},
    )
    return job


def retry(*, session: Session, job_id: int, actor: User) -> Job:
    job = get_job(session=session, job_id=job_id)
    if job.status not in FINISHED:
        raise Conflict(
            N_("Only a finished job can be retried; this one is %(status)s."), status=job.status
        )
    return launch(
        session=session,
        version_id=job.dataset_version_id,
        base_model=job.base_model,
        params=protocol.JobParams(**job.params),
        actor=actor,
        parent=job,
    )


def requeue_expired(session: Session) -> int:
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
    requeue_expired(session)
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


def spec(job: Job, artifacts_root: str) -> protocol.JobSpec:
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
    job = session.scalar(
        select(Job)
        .where(Job.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
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


def list_jobs(
    *,
    session: Session,
    project_id: int | None = None,
    status: str | None = None,
    base_model: str | None = None,
    limit: int = 200,
) -> list[Job]:
    """The newest jobs, optionally of one project, in one status, or on a base model."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if project_id is not None:
        query = query.where(Job.project_id == project_id)
    if status:
        query = query.where(Job.status == status)
    if base_model:
        query = query.where(Job.base_model.contains(base_model, autoescape=True))
    return list(session.scalars(query))


def launch_choices(*, session: Session) -> list:
    """Every dataset version a job may train on, with its project's name, for the launch form."""
    return session.execute(
        select(
            DatasetVersion.id,
            DatasetVersion.name,
            DatasetVersion.train_count,
            DatasetVersion.eval_count,
            Project.name.label("project"),
        )
        .join(Project, Project.id == DatasetVersion.project_id)
        .order_by(Project.name, DatasetVersion.id.desc())
    ).all()


def find_version(*, session: Session, version_id: int) -> DatasetVersion | None:
    return session.get(DatasetVersion, version_id)


def version_names(*, session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(DatasetVersion.id, DatasetVersion.name).where(DatasetVersion.id.in_(ids))
    )
    return dict(rows.all())


def metrics_of(*, session: Session, job_id: int) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for name, step, value in session.execute(
        select(JobMetric.name, JobMetric.step, JobMetric.value)
        .where(JobMetric.job_id == job_id)
        .order_by(JobMetric.name, JobMetric.step, JobMetric.id)
    ):
        series.setdefault(name, []).append((step, value))
    return series
