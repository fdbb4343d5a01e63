"""Fine-tune jobs as people see them: launch (validated parameters), cancel, retry, and the
lists and lookups of the job pages. The workers' side of the queue is ``app.jobs.queue``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import base_models, protocol
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.jobs import objective, start, workers
from app.models import (
    DatasetVersion,
    Job,
    JobMetric,
    Project,
    User,
)
from app.models.base import utcnow

FINISHED = ("succeeded", "failed", "cancelled")
# Why a base model was refused (``app.core.base_models.REASONS``), for the person launching.
REFUSALS = {
    "invalid": N_("The base model must be tiny, a hub id like org/name, or a path."),
    "off": N_(
        "Local base models are not allowed on this server: use tiny or a hub id like org/name "
        "(an administrator can allow folders with STUDIO_MODEL_ROOTS)."
    ),
    "relative": N_("A local base model must be given by its absolute path."),
    "dots": N_("A local base model's path may not contain '..'."),
    "outside": N_(
        "The base model's folder is not inside an allowed model folder (links are followed)."
    ),
}


def check_base_model(base_model: str, *, model_roots: Sequence[Path] = ()) -> str:
    """``tiny``, a hub id (``org/name``) or a folder inside one of ``model_roots``; a worker
    will read what this names, so with no roots no local path is accepted."""
    value = base_model.strip()
    try:
        return base_models.check(value, model_roots)
    except base_models.ModelPathRefused as refused:
        reason = REFUSALS[refused.reason]  # the field's own message: the form shows it inline
        raise InvalidInput(reason, errors={"base_model": reason}) from None


@dataclass(frozen=True)
class Checked:
    """Settings a launch accepts: the version, the base model as it will be stored, and the
    finished job the new one continues from (if any)."""

    version: DatasetVersion
    base_model: str
    start_job: Job | None


def check_launch(
    *,
    session: Session,
    version_id: int,
    base_model: str | None,
    params: protocol.JobParams,
    start_job_id: int | None = None,
    artifacts_root: str | Path | None = None,
    model_roots: Sequence[Path] = (),
    within: Collection[int] | None = None,
) -> Checked:
    """Every check a launch makes, refusing as it refuses (``launch``'s rules); the pre-flight
    check of the launch form's settings makes the same, so it refuses with the same sentence."""
    version = session.get(DatasetVersion, version_id)
    if version is None or within is not None and version.project_id not in within:
        raise InvalidInput(
            N_("No dataset version with id %(id)s."),
            id=version_id,
            errors={"dataset_version_id": N_("Invalid.")},
        )
    refused = objective.refusal(version, objective.contents(session, version), params.objective)
    if refused is not None:
        raise refused
    refused = workers.launch_refusal(session=session, params=params)  # what no worker can run
    if refused is not None:
        raise refused
    start_job = None
    if start_job_id is not None:
        if artifacts_root is None:
            raise ValueError("continuing from a job needs the artifact store's folder")
        start_job = start.check(
            session,
            start_job_id=start_job_id,
            project_id=version.project_id,
            artifacts_root=artifacts_root,
        )
        base_model = _start_base_model(start_job, base_model)
    if not (base_model or "").strip():
        raise InvalidInput(
            N_("Choose or type a base model."),
            errors={"base_model": N_("Choose or type a base model.")},
        )
    return Checked(version, check_base_model(base_model, model_roots=model_roots), start_job)


def launch(
    *,
    session: Session,
    version_id: int,
    base_model: str | None,
    params: protocol.JobParams,
    actor: User,
    parent: Job | None = None,
    start_job_id: int | None = None,
    artifacts_root: str | Path | None = None,
    model_roots: Sequence[Path] = (),
    within: Collection[int] | None = None,
) -> Job:
    """Queue a job; ``within`` limits the versions to the projects the actor manages (None:
    any), and one outside reads as missing. The version must hold what the objective learns
    from (SFT items, or pairs for DPO). With ``start_job_id`` the job continues from that
    finished job's model (its model folder under ``artifacts_root``) and trains on the base
    model that job did: ``base_model`` may be left out, and must not name another."""
    checked = check_launch(
        session=session,
        version_id=version_id,
        base_model=base_model,
        params=params,
        start_job_id=start_job_id,
        artifacts_root=artifacts_root,
        model_roots=model_roots,
        within=within,
    )
    version, start_job = checked.version, checked.start_job
    job = Job(
        project_id=version.project_id,
        dataset_version_id=version.id,
        base_model=checked.base_model,
        params=params.model_dump(mode="json"),
        created_by=actor.id,
        parent_id=parent.id if parent else None,
        start_job_id=start_job.id if start_job else None,
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
            "objective": params.objective,
            "start_job": job.start_job_id,
        },
    )
    return job


def _start_base_model(start_job: Job, base_model: str | None) -> str:
    """A job that continues from another trains on that job's base model."""
    given = (base_model or "").strip()
    if given and given != start_job.base_model:
        raise objective.Refusal(
            N_(
                "Job #%(id)s was trained on %(model)s; a job that continues from it trains on "
                "the same base model (leave the base model out)."
            ),
            field="base_model",
            id=start_job.id,
            model=start_job.base_model,
        )
    return start_job.base_model


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


def retry(
    *,
    session: Session,
    job_id: int,
    actor: User,
    model_roots: Sequence[Path] = (),
    artifacts_root: str | Path | None = None,
) -> Job:
    """A new job with the same data, parameters and starting point (the job it continued
    from, which must still have its model under ``artifacts_root``)."""
    job = get_job(session=session, job_id=job_id)
    if job.kind == "generate":
        # (imported here: the generation jobs build on this module)
        from app.jobs.generation import launch as generation

        return generation.retry(
            session=session,
            job_id=job.id,
            actor=actor,
            artifacts_root=artifacts_root,
            model_roots=model_roots,
        )
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
        start_job_id=job.start_job_id,
        artifacts_root=artifacts_root,
        model_roots=model_roots,  # the folders allowed today, not when it first ran
    )


def list_jobs(
    *,
    session: Session,
    project_id: int | None = None,
    status: str | None = None,
    base_model: str | None = None,
    limit: int = 200,
    within: Collection[int] | None = None,
) -> list[Job]:
    """The newest jobs, optionally of one project, in one status, or on a base model; only
    those of the projects ``within`` (None: all)."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if within is not None:
        query = query.where(Job.project_id.in_(within))
    if project_id is not None:
        query = query.where(Job.project_id == project_id)
    if status:
        query = query.where(Job.status == status)
    if base_model:
        query = query.where(Job.base_model.contains(base_model, autoescape=True))
    return list(session.scalars(query))


@dataclass(frozen=True)
class VersionChoice:
    """A dataset version the launch form offers."""

    id: int
    name: str
    train_count: int
    eval_count: int
    project_id: int
    project: str
    pairs: int | None  # None until its statistics are computed


def launch_choices(
    *, session: Session, within: Collection[int] | None = None
) -> list[VersionChoice]:
    """Every dataset version a job may train on (in the projects ``within``; None: all), with
    its project's name and its pairs where its statistics know them, for the launch form."""
    query = (
        select(
            DatasetVersion.id,
            DatasetVersion.name,
            DatasetVersion.train_count,
            DatasetVersion.eval_count,
            DatasetVersion.project_id,
            DatasetVersion.stats,
            Project.name.label("project"),
        )
        .join(Project, Project.id == DatasetVersion.project_id)
        .order_by(Project.name, DatasetVersion.id.desc())
    )
    if within is not None:
        query = query.where(DatasetVersion.project_id.in_(within))
    return [
        VersionChoice(
            id=row.id,
            name=row.name,
            train_count=row.train_count,
            eval_count=row.eval_count,
            project_id=row.project_id,
            project=row.project,
            pairs=objective.pairs_in_statistics(row.stats),
        )
        for row in session.execute(query)
    ]


def find_job(
    *, session: Session, job_id: int | None, within: Collection[int] | None = None
) -> Job | None:
    """A job of the projects ``within`` (None: any), or None."""
    job = session.get(Job, job_id) if job_id is not None else None
    if job is None or within is not None and job.project_id not in within:
        return None
    return job


def find_version(
    *, session: Session, version_id: int, within: Collection[int] | None = None
) -> DatasetVersion | None:
    version = session.get(DatasetVersion, version_id)
    if version is None or within is not None and version.project_id not in within:
        return None
    return version


def version_names(*, session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(DatasetVersion.id, DatasetVersion.name).where(DatasetVersion.id.in_(ids))
    )
    return dict(rows.all())


def metrics_of(*, session: Session, job_id: int) -> dict[str, list[tuple[int, float | None]]]:
    """Every metric series; a value stored before reports were checked (NaN, infinite, huge)
    reads as None, so the JSON stays valid."""
    series: dict[str, list[tuple[int, float | None]]] = {}
    for name, step, value in session.execute(
        select(JobMetric.name, JobMetric.step, JobMetric.value)
        .where(JobMetric.job_id == job_id)
        .order_by(JobMetric.name, JobMetric.step, JobMetric.id)
    ):
        series.setdefault(name, []).append((step, value if protocol.reportable(value) else None))
    return series
