"""JSON API for fine-tune jobs: admins launch, cancel and retry; workers claim and report."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.apidoc import ERRORS, PathId, QueryId
from app.auth.deps import Annotator, Manager, ProjectManager, ProjectReviewer, Worker
from app.core import job_paths, protocol
from app.core.job_paths import WorkerPath
from app.db import MAX_INTEGER, DbSession
from app.demo import evaluation as demo_evaluation
from app.evaluation import results as human
from app.jobs import datamap, feedback, groups, queue, results, service
from app.jobs.schemas import (
    DataMapOut,
    HumanVerdictOut,
    JobResultsOut,
    PredictionOut,
    PredictionPage,
    SendBackIn,
    SendBackOut,
)
from app.members import access as members

router = APIRouter(prefix=job_paths.API_ROOT, tags=["jobs"], responses=ERRORS)


class JobIn(BaseModel):
    dataset_version_id: int = Field(ge=1, le=MAX_INTEGER)
    base_model: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        examples=["tiny"],
        description="tiny, a hub id (org/name) or a path; leave it out to continue from a job "
        "(``start_job_id``), which trains on that job's base model.",
    )
    params: protocol.JobParams = Field(default_factory=protocol.JobParams)
    start_job_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_INTEGER,
        description="Continue from this succeeded job of the same project: start from its tuned "
        "model (for example SFT, then DPO) instead of the base model.",
    )


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    kind: protocol.JobKind = "finetune"
    dataset_version_id: int | None
    base_model: str
    params: dict
    generation: dict | None = Field(
        default=None, description="A generation job's task and settings."
    )
    status: str
    worker: str | None
    attempts: int
    step: int
    total_steps: int | None
    epoch: float
    error: str | None
    metrics: dict
    artifacts: list
    parent_id: int | None = Field(description="The job this one retries.")
    start_job_id: int | None = Field(description="The job whose tuned model this one starts from.")
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @field_validator("metrics")
    @classmethod
    def _finite(cls, metrics: dict) -> dict:
        """A value stored before reports were checked must not break the JSON (no NaN)."""
        return {k: _finite_or_none(v) for k, v in metrics.items()}

    @field_validator("epoch")
    @classmethod
    def _finite_epoch(cls, epoch: float) -> float:
        return epoch if math.isfinite(epoch) else 0.0


def _finite_or_none(value):
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, float) and not protocol.reportable(value):
        return None
    return value


class Recorded(BaseModel):
    recorded: int


@router.post("/jobs", response_model=JobOut, status_code=201, name="api_job_launch")
def launch(request: Request, body: JobIn, session: DbSession, user: Manager):
    """Launch a fine-tune job on a dataset version; bad parameters answer 422 naming the field.
    ``params.objective`` "dpo" needs preference pairs in the version's training split, "sft"
    items of the other kinds: a version without them answers 422 with a sentence, as does a
    ``start_job_id`` of another project, not succeeded, or without its model folder."""
    return service.launch(
        session=session,
        version_id=body.dataset_version_id,
        base_model=body.base_model,
        params=body.params,
        actor=user,
        start_job_id=body.start_job_id,
        artifacts_root=request.app.state.settings.resolved_artifacts_dir,
        model_roots=request.app.state.settings.model_roots,
        within=members.project_ids(session, user=user, at_least="manager"),
    )


@router.get("/jobs", response_model=list[JobOut], name="api_jobs")
def list_jobs(session: DbSession, user: Annotator, project_id: QueryId = None):
    """Recent jobs of the projects where the caller reviews or manages, newest first."""
    within = members.project_ids(session, user=user, at_least="reviewer")
    return service.list_jobs(session=session, project_id=project_id, within=within)


@router.get("/jobs/{job_id}", response_model=JobOut, name="api_job")
def get_job(job_id: PathId, session: DbSession, user: ProjectReviewer):
    """One job with its progress."""
    return service.get_job(session=session, job_id=job_id)


@router.get("/jobs/{job_id}/metrics", name="api_job_metrics")
def job_metrics(job_id: PathId, session: DbSession, user: ProjectReviewer) -> dict:
    """Metric series: {name: [[step, value], …]}."""
    service.get_job(session=session, job_id=job_id)
    return service.metrics_of(session=session, job_id=job_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, name="api_job_cancel")
def cancel(job_id: PathId, session: DbSession, user: ProjectManager):
    """Cancel a queued job now, or ask the worker of a running one to stop."""
    return service.cancel(session=session, job_id=job_id, actor=user)


@router.post("/jobs/{job_id}/retry", response_model=JobOut, status_code=201, name="api_job_retry")
def retry(request: Request, job_id: PathId, session: DbSession, user: ProjectManager):
    """A new job with the same parameters, linked to this one."""
    return service.retry(
        session=session,
        job_id=job_id,
        actor=user,
        model_roots=request.app.state.settings.model_roots,
        artifacts_root=request.app.state.settings.resolved_artifacts_dir,
    )


@router.post(
    WorkerPath.CLAIM,
    response_model=protocol.JobSpec | None,
    name="api_worker_claim",
    responses={204: {"description": "No job queued."}},
)
def claim(request: Request, body: protocol.ClaimRequest, session: DbSession, token: Worker):
    """Claim the oldest queued job the worker's device can run (204 when there is none); the
    device it reports is kept, for the launch checks and the memory estimate."""
    job = queue.claim(
        session=session,
        worker=body.worker,
        token_id=token.id,
        device=body.device,
        kinds=body.kinds,
    )
    if job is None:
        return Response(status_code=204)
    return queue.spec(job, artifacts_root=str(request.app.state.settings.resolved_artifacts_dir))


@router.post(
    WorkerPath.HEARTBEAT,
    response_model=protocol.HeartbeatReply,
    name="api_worker_heartbeat",
)
def heartbeat(
    request: Request, job_id: PathId, body: protocol.Heartbeat, session: DbSession, token: Worker
):
    """Extend the lease and report progress; the reply says whether to cancel."""
    return queue.heartbeat(
        session=session,
        job_id=job_id,
        beat=body,
        token_id=token.id,
        artifacts_root=request.app.state.settings.resolved_artifacts_dir,
    )


@router.post(WorkerPath.METRICS, response_model=Recorded, name="api_worker_metrics")
def metrics(job_id: PathId, body: protocol.MetricBatch, session: DbSession, token: Worker):
    """A batch of metric points (steps may not go back within an attempt)."""
    return Recorded(
        recorded=queue.record_metrics(session=session, job_id=job_id, batch=body, token_id=token.id)
    )


@router.post(WorkerPath.LOGS, response_model=Recorded, name="api_worker_logs")
def logs(job_id: PathId, body: protocol.LogBatch, session: DbSession, token: Worker):
    """Log lines."""
    return Recorded(
        recorded=queue.record_logs(session=session, job_id=job_id, batch=body, token_id=token.id)
    )


@router.post(WorkerPath.DYNAMICS, response_model=Recorded, name="api_worker_dynamics")
def dynamics(job_id: PathId, body: protocol.DynamicsBatch, session: DbSession, token: Worker):
    """Per-item loss and confidence per epoch (for the data map)."""
    return Recorded(
        recorded=queue.record_dynamics(
            session=session, job_id=job_id, batch=body, token_id=token.id
        )
    )


@router.post(WorkerPath.PREDICTIONS, response_model=Recorded, name="api_worker_predictions")
def predictions(job_id: PathId, body: protocol.PredictionBatch, session: DbSession, token: Worker):
    """Evaluation outputs of the base and tuned models with their scores."""
    return Recorded(
        recorded=queue.record_predictions(
            session=session, job_id=job_id, batch=body, token_id=token.id
        )
    )


@router.post(WorkerPath.COMPLETE, response_model=JobOut, name="api_worker_complete")
def complete(
    request: Request,
    job_id: PathId,
    body: protocol.Completion,
    session: DbSession,
    token: Worker,
):
    """The job succeeded."""
    job = queue.finish(
        session=session,
        job_id=job_id,
        attempt=body.attempt,
        token_id=token.id,
        status="succeeded",
        metrics=body.metrics,
        artifacts=body.artifacts,
        step=body.steps,
    )
    # The demo's own job becomes its evaluation rounds, and drafts its prompts' outputs.
    demo_evaluation.after_job(
        session, job, artifacts_root=request.app.state.settings.resolved_artifacts_dir
    )
    return job


@router.post(WorkerPath.FAIL, response_model=JobOut, name="api_worker_fail")
def fail(job_id: PathId, body: protocol.Failure, session: DbSession, token: Worker):
    """The job failed with an error."""
    return queue.finish(
        session=session,
        job_id=job_id,
        attempt=body.attempt,
        token_id=token.id,
        status="failed",
        error=body.error,
    )


@router.post(WorkerPath.CANCELLED, response_model=JobOut, name="api_worker_cancelled")
def cancelled(job_id: PathId, body: protocol.Heartbeat, session: DbSession, token: Worker):
    """The worker stopped as asked, keeping its last checkpoint."""
    return queue.finish(
        session=session,
        job_id=job_id,
        attempt=body.attempt,
        token_id=token.id,
        status="cancelled",
        step=body.step,
    )


@router.get("/jobs/{job_id}/results", response_model=JobResultsOut, name="api_job_results")
def job_results(job_id: PathId, session: DbSession, user: ProjectReviewer) -> JobResultsOut:
    """Metrics over the eval items, overall and per kind, language and domain, base against
    tuned, and the groups that fell while the whole rose (empty until the worker reports); the
    seen sample of training items beside them."""
    job = service.get_job(session=session, job_id=job_id)
    predictions = results.predictions_of(session, job.id)
    found = groups.breakdown(session, version_id=job.dataset_version_id, predictions=predictions)
    out = JobResultsOut.of(job, len(predictions), found, results.seen_section(session, job))
    out.human_verdicts = [
        HumanVerdictOut(
            round_id=v.round.id,
            name=v.round.name,
            wins=v.tally.wins,
            losses=v.tally.losses,
            ties=v.tally.ties,
            n=v.tally.n,
            win_rate=v.tally.win_rate,
            interval=v.tally.interval,
            p_value=v.tally.p_value,
        )
        for v in human.job_verdicts(session, job=job)
    ]
    return out


@router.get("/jobs/{job_id}/predictions", response_model=PredictionPage, name="api_job_predictions")
def job_predictions(
    job_id: PathId,
    session: DbSession,
    user: ProjectReviewer,
    show: Annotated[
        Literal["broken", "worse", "better", "wrong"] | None,
        Query(description="As on the results page: only the items whose tuned output is so."),
    ] = None,
    kind: Annotated[str, Query(max_length=16)] = "",
    split: Annotated[
        Literal["eval", "train"],
        Query(description="'train': the seen sample of training items instead of the eval items."),
    ] = "eval",
    after: Annotated[int, Query(ge=0, le=MAX_INTEGER)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PredictionPage:
    """Each eval item's reference beside the base and tuned outputs, in the order reported
    (or, with ``split=train``, each item of the seen sample's)."""
    job = service.get_job(session=session, job_id=job_id)
    chosen = results.select_predictions(
        results.predictions_of(session, job.id, split), show=show or "", kind=kind
    )
    rows = sorted((p for p in chosen if p.id > after), key=lambda p: p.id)[: limit + 1]
    more, rows = len(rows) > limit, rows[:limit]
    marks = results.constraint_marks(session, job.dataset_version_id, rows)
    return PredictionPage(
        predictions=[PredictionOut.of(p, marks.get(p.item_id, [])) for p in rows],
        next_cursor=rows[-1].id if more else None,
    )


@router.get("/jobs/{job_id}/datamap", response_model=DataMapOut, name="api_job_datamap")
def job_datamap(job_id: PathId, session: DbSession, user: ProjectReviewer) -> DataMapOut:
    """Training dynamics per training item: confidence, variability, loss and region (the
    worker reports loss and confidence per epoch, not correctness)."""
    job = service.get_job(session=session, job_id=job_id)
    return DataMapOut.of(job.id, datamap.for_job(session, job.id))


@router.post("/jobs/{job_id}/send-back", response_model=SendBackOut, name="api_job_send_back")
def send_back(
    job_id: PathId, body: SendBackIn, session: DbSession, user: ProjectReviewer
) -> SendBackOut:
    """Reopen approved items of the job's dataset version for review, with the reason
    "flagged by training" and a link to the job; items no longer approved are skipped."""
    return SendBackOut.of(
        feedback.send_back(
            session=session,
            job_id=job_id,
            item_ids=body.item_ids,
            actor=user,
            comment=body.comment,
        )
    )
