"""JSON API for pre-flight checks of a launch's settings: admins ask for one and read it;
workers take one before any job, and answer with a report or a failure."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.apidoc import ERRORS, PathId
from app.auth.deps import Manager, Worker
from app.core import job_paths, protocol
from app.core.job_paths import WorkerPath
from app.core.preflight import PreflightFailure, PreflightReport, PreflightSpec
from app.db import DbSession
from app.jobs import preflight
from app.jobs.api import JobIn
from app.members import access as members

router = APIRouter(prefix=job_paths.API_ROOT, tags=["preflights"], responses=ERRORS)


class PreflightOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    dataset_version_id: int
    base_model: str
    params: dict
    start_job_id: int | None
    status: str = Field(description="queued, running, succeeded or failed.")
    worker: str | None
    report: PreflightReport | None = Field(description="What the worker found, once succeeded.")
    error: str | None = Field(description="Why the check failed: the job would fail so too.")
    created_at: datetime
    finished_at: datetime | None

    @field_validator("report", mode="before")
    @classmethod
    def _nothing_until_reported(cls, report: dict | None) -> dict | None:
        return report or None


def _settings(request: Request):
    return request.app.state.settings


@router.post("/preflights", response_model=PreflightOut, status_code=202, name="api_preflight_new")
def create(request: Request, body: JobIn, session: DbSession, user: Manager):
    """Check a launch's settings on a worker before launching: the same body as
    ``POST /api/v1/jobs``, refused as that launch would be (422 naming the field). The check
    is queued; a worker takes it before any job (poll ``GET /api/v1/preflights/{id}``)."""
    return preflight.create(
        session=session,
        version_id=body.dataset_version_id,
        base_model=body.base_model,
        params=body.params,
        actor=user,
        start_job_id=body.start_job_id,
        artifacts_root=_settings(request).resolved_artifacts_dir,
        model_roots=_settings(request).model_roots,
        within=members.project_ids(session, user=user, at_least="manager"),
    )


@router.get("/preflights/{preflight_id}", response_model=PreflightOut, name="api_preflight")
def read(preflight_id: PathId, session: DbSession, user: Manager):
    """A check's status, and its report or the sentence it failed with."""
    within = members.project_ids(session, user=user, at_least="manager")
    return preflight.get(session=session, preflight_id=preflight_id, within=within)


@router.post(
    WorkerPath.PREFLIGHT_CLAIM,
    response_model=PreflightSpec | None,
    name="api_worker_preflight_claim",
    responses={204: {"description": "No check queued."}},
)
def claim(request: Request, body: protocol.ClaimRequest, session: DbSession, token: Worker):
    """Take the oldest queued check the worker's device can run (204 when there is none)."""
    row = preflight.claim(
        session=session, worker=body.worker, token_id=token.id, device=body.device
    )
    if row is None:
        return Response(status_code=204)
    return preflight.spec(row, artifacts_root=str(_settings(request).resolved_artifacts_dir))


@router.post(
    WorkerPath.PREFLIGHT_REPORT, response_model=PreflightOut, name="api_worker_preflight_report"
)
def report(preflight_id: PathId, body: PreflightReport, session: DbSession, token: Worker):
    """The check succeeded: what the worker found."""
    return preflight.succeed(
        session=session, preflight_id=preflight_id, token_id=token.id, report=body
    )


@router.post(
    WorkerPath.PREFLIGHT_FAIL, response_model=PreflightOut, name="api_worker_preflight_fail"
)
def fail(preflight_id: PathId, body: PreflightFailure, session: DbSession, token: Worker):
    """The check failed, with the sentence a job of its settings would fail with."""
    return preflight.fail(
        session=session, preflight_id=preflight_id, token_id=token.id, error=body.error
    )
