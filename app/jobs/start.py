"""Continue from a job: a new job starts from the tuned model of a finished job of the same
project (SFT, then DPO on its model) instead of the base model, and trains on the base model
that job started from. The trainer merges a LoRA parent's adapter into the weights, so any
method may follow any other."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.i18n import N_
from app.jobs.artifacts import job_folder, model_folder, real_folder
from app.jobs.objective import Refusal
from app.models import DatasetVersion, Job, Project

CHOICES = 200  # the newest finished jobs the launch form offers


def check(
    session: Session, *, start_job_id: int, project_id: int, artifacts_root: str | Path
) -> Job:
    """The fine-tune to continue from (or, for a generation job, to generate with), if it is
    a job of the project that succeeded and whose model is still in the artifact store;
    otherwise a sentence that says which not."""
    parent = session.get(Job, start_job_id)
    if parent is None or parent.project_id != project_id or parent.kind != "finetune":
        raise Refusal(
            N_(
                "Job #%(id)s is not a job of this dataset version's project; a job continues "
                "from a job of its own project."
            ),
            field="start_job_id",
            id=start_job_id,
        )
    if parent.status != "succeeded":
        raise Refusal(
            N_(
                "Job #%(id)s has not succeeded (it is %(status)s); a job continues from a job "
                "that finished with a model."
            ),
            field="start_job_id",
            id=parent.id,
            status=parent.status,
        )
    if not has_model(parent, artifacts_root):
        raise Refusal(
            N_(
                "Job #%(id)s's model folder is missing from the artifact store, so no job can "
                "continue from it; retry that job to train its model again."
            ),
            field="start_job_id",
            id=parent.id,
        )
    return parent


def has_model(job: Job, artifacts_root: str | Path, _seen: frozenset[int] = frozenset()) -> bool:
    """Whether the job's model is there to start from: its model folder, and for a LoRA job the
    weights its adapter goes on, as the trainer finds them: the model of the job it continued
    from, else (``tiny``) the base model it built. A full fine-tune's folder holds the whole
    model."""
    if model_folder(artifacts_root, job) is None:
        return False
    if job.params.get("method") == "full":
        return True
    if job.start_job_id is not None:
        start = object_session(job).get(Job, job.start_job_id) if object_session(job) else None
        if start is None or job.id in _seen:
            return False
        return has_model(start, artifacts_root, _seen | {job.id})
    return (
        job.base_model != "tiny" or real_folder(job_folder(artifacts_root, job.id).base) is not None
    )


@dataclass(frozen=True)
class Choice:
    """A finished job the launch form offers to continue from."""

    id: int
    project_id: int
    project: str
    base_model: str
    method: str
    objective: str
    version: str


def choices(
    session: Session, *, artifacts_root: str | Path, within: Collection[int] | None = None
) -> list[Choice]:
    """The newest succeeded jobs of the projects ``within`` (None: all) whose model is still
    there, for the launch form's "continue from" list."""
    query = (
        select(Job, Project.name, DatasetVersion.name)
        .join(Project, Project.id == Job.project_id)
        .join(DatasetVersion, DatasetVersion.id == Job.dataset_version_id)
        .where(Job.status == "succeeded", Job.kind == "finetune")
        .order_by(Job.id.desc())
        .limit(CHOICES)
    )
    if within is not None:
        query = query.where(Job.project_id.in_(within))
    return [
        Choice(
            id=job.id,
            project_id=job.project_id,
            project=project,
            base_model=job.base_model,
            method=str(job.params.get("method") or ""),
            objective=str(job.params.get("objective") or "sft"),
            version=version,
        )
        for job, project, version in session.execute(query)
        if has_model(job, artifacts_root)
    ]
