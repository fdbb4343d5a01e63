"""JSON API for generation jobs: a project's manager launches one over a filter of items (or
chosen ids); the worker that claimed it reads its inputs and sends what the model wrote.
Cancel, retry, the job itself and its log are the jobs API's (``app.jobs.api``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from app.apidoc import ERRORS, PathId
from app.auth.deps import ProjectManager, ProjectReviewer, Worker
from app.core import job_paths
from app.core.generation import (
    GenerationBatch,
    GenerationInputPage,
    GenerationReply,
    GenerationSpec,
)
from app.core.job_paths import WorkerPath
from app.db import MAX_INTEGER, DbSession
from app.items.repository import Drafted, ItemFilter
from app.jobs.api import JobOut
from app.jobs.generation import inputs, launch, trying
from app.members import access as members

router = APIRouter(prefix=job_paths.API_ROOT, tags=["generation"], responses=ERRORS)


class ItemsIn(BaseModel):
    """Which items the job reads: the item list's filters, and optionally chosen ids."""

    model_config = {"extra": "forbid"}

    q: str = Field(default="", max_length=200)
    kind: str | None = Field(default=None, max_length=16)
    status: str | None = Field(default=None, max_length=24)
    domain: str | None = Field(default=None, max_length=100)
    tag: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=16)
    origin: str | None = Field(default=None, max_length=16)
    drafted: Drafted | None = None
    author_id: int | None = Field(default=None, ge=1, le=MAX_INTEGER)
    item_ids: list[Annotated[int, Field(ge=1, le=MAX_INTEGER)]] = Field(
        default_factory=list, max_length=10_000, description="Only these items (when given)."
    )

    def as_filter(self, project_id: int) -> ItemFilter:
        values = self.model_dump(exclude={"item_ids"})
        return ItemFilter(project_id=project_id, **values, item_ids=tuple(self.item_ids))


class GenerationJobIn(BaseModel):
    model_config = {"extra": "forbid"}

    generation: GenerationSpec
    base_model: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        examples=["tiny"],
        description="tiny, a hub id (org/name) or an allowed path; leave it out with "
        "``start_job_id`` to generate with that fine-tune's model.",
    )
    start_job_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_INTEGER,
        description="A succeeded fine-tune of the project whose tuned model generates.",
    )
    items: ItemsIn = Field(default_factory=ItemsIn)


@router.post(
    "/projects/{project_id}/generation-jobs",
    response_model=JobOut,
    status_code=201,
    name="api_generation_launch",
)
def launch_generation(
    request: Request,
    project_id: PathId,
    body: GenerationJobIn,
    session: DbSession,
    user: ProjectManager,
):
    """Launch a generation job (draft outputs, augment, bootstrap) over the items the filter
    matches; 422 with a sentence when none qualifies or the model is refused."""
    settings = request.app.state.settings
    return launch.launch(
        session=session,
        project_id=project_id,
        spec=body.generation,
        base_model=body.base_model,
        actor=user,
        item_filter=body.items.as_filter(project_id),
        start_job_id=body.start_job_id,
        artifacts_root=settings.resolved_artifacts_dir,
        model_roots=settings.model_roots,
        within=members.project_ids(session, user=user, at_least="manager"),
    )


@router.get(WorkerPath.INPUTS, response_model=GenerationInputPage, name="api_worker_inputs")
def worker_inputs(
    job_id: PathId,
    session: DbSession,
    token: Worker,
    attempt: Annotated[int, Query(ge=1, le=MAX_INTEGER)],
    after: Annotated[int, Query(ge=0, le=MAX_INTEGER)] = 0,
    limit: Annotated[int, Query(ge=1, le=inputs.PAGE)] = inputs.PAGE,
):
    """The items a generation job reads, a page at a time (the claiming token only)."""
    return inputs.page(
        session=session, job_id=job_id, attempt=attempt, token_id=token.id, after=after, limit=limit
    )


@router.post(WorkerPath.GENERATIONS, response_model=GenerationReply, name="api_worker_generations")
def worker_generations(job_id: PathId, body: GenerationBatch, session: DbSession, token: Worker):
    """What the model wrote for a batch of inputs, or a bootstrap round's proposals."""
    return inputs.record(session=session, job_id=job_id, batch=body, token_id=token.id)


class TryIn(BaseModel):
    model_config = {"extra": "forbid"}

    prompt: str = Field(default="", max_length=20_000, description="The prompt to answer.")
    item_id: int | None = Field(
        default=None, ge=1, le=MAX_INTEGER, description="Or: answer this item's prompt."
    )
    max_new_tokens: int = Field(default=128, ge=1, le=1024)


@router.post("/jobs/{job_id}/try", response_model=JobOut, status_code=201, name="api_job_try")
def try_model(
    request: Request, job_id: PathId, body: TryIn, session: DbSession, user: ProjectReviewer
):
    """Queue a try of a succeeded fine-tune's model: the answers (``metrics.answers``: base and
    tuned) appear on the returned job (``GET /api/v1/jobs/{id}``) once a worker has answered."""
    return trying.ask(
        session=session,
        job_id=job_id,
        actor=user,
        prompt=body.prompt,
        item_id=body.item_id,
        max_new_tokens=body.max_new_tokens,
        artifacts_root=request.app.state.settings.resolved_artifacts_dir,
    )
