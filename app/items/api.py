"""JSON API for items: the same rules and errors as the pages."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.apidoc import ERRORS, PathId, QueryId
from app.assignments.forms import item_filter
from app.assignments.schemas import ItemQuery
from app.auth.deps import Member, ProjectAnnotator
from app.background.schemas import TaskOut
from app.core.provenance import Origin
from app.db import DbSession
from app.errors import InvalidInput
from app.evaluation import rounds
from app.i18n import N_
from app.imports import indexer
from app.items import bulk_task, repository, service
from app.items.lengths import ContentLimits
from app.items.repository import Drafted
from app.items.schemas import ItemIn, ItemOut, ItemPage
from app.members import access as members
from app.projects import service as projects

router = APIRouter(prefix="/api/v1", tags=["items"], responses=ERRORS)


@router.get("/projects/{project_id}/items", response_model=ItemPage, name="api_items")
def list_items(
    project_id: PathId,
    session: DbSession,
    user: ProjectAnnotator,
    member: Member,
    q: Annotated[str, Query(max_length=200)] = "",
    kind: str | None = None,
    status: str | None = None,
    domain: str | None = None,
    tag: str | None = None,
    author: QueryId = None,
    difficulty: Annotated[int | None, Query(ge=1, le=5)] = None,
    language: str | None = None,
    origin: Origin | None = None,
    drafted: Annotated[
        Drafted | None,
        Query(description="yes: only model-drafted outputs; no: only outputs people wrote."),
    ] = None,
    created_from: date | None = None,
    created_to: date | None = None,
    sort: Annotated[str, Query(pattern="^(newest|oldest|updated)$")] = "newest",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
):
    """Items with filters, search and keyset pagination (pass next_cursor back)."""
    project = projects.get_project(session=session, project_id=project_id)
    f = repository.ItemFilter(
        project_id=project.id,
        kind=kind,
        status=status,
        domain=domain,
        tag=tag,
        author_id=author,
        difficulty=difficulty,
        language=language,
        origin=origin,
        drafted=drafted,
        created_from=created_from,
        created_to=created_to,
        q=q,
        sort=sort,
        drafts_of=members.drafts_of(found=member, drafts_shared=project.drafts_shared),
    )
    rows, next_cursor = repository.page(session, f, cursor=cursor, limit=limit)
    return ItemPage(
        items=_blinded(session, user, project.id, rows),
        next_cursor=next_cursor,
        counts=None if cursor else repository.counts_by_status(session, f).counts,
        counts_capped_at=repository.COUNT_CAP,
        search_pending=bool(q) and indexer.pending(session, project.id),
    )


@router.post(
    "/projects/{project_id}/items", response_model=ItemOut, status_code=201, name="api_items_create"
)
def create_item(
    request: Request, project_id: PathId, body: ItemIn, session: DbSession, user: ProjectAnnotator
):
    """Write an item (draft, or submitted with submit=true)."""
    project = projects.get_project(session=session, project_id=project_id)
    return service.create_item(
        session=session,
        project=project,
        draft=body,
        author=user,
        submit=body.submit,
        limits=ContentLimits.of(request.app.state.settings),
    )


@router.get("/items/{item_id}", response_model=ItemOut, name="api_item")
def get_item(item_id: PathId, session: DbSession, user: ProjectAnnotator):
    """One item."""
    item = service.get_item(session=session, item_id=item_id)
    return _blinded(session, user, item.project_id, [item])[0]


@router.put("/items/{item_id}", response_model=ItemOut, name="api_item_update")
def update_item(
    request: Request, item_id: PathId, body: ItemIn, session: DbSession, user: ProjectAnnotator
):
    """Save a new version; `version` must be the one you read, or the answer is 409."""
    if body.version is None:
        raise InvalidInput(
            N_("Give the version you are editing."), errors={"version": N_("Required.")}
        )
    return service.update_item(
        session=session,
        item_id=item_id,
        draft=body,
        expected_version=body.version,
        editor=user,
        submit=body.submit,
        limits=ContentLimits.of(request.app.state.settings),
    )


def _blinded(session, user, project_id: int, rows) -> list[ItemOut]:
    """The items as the API shows them; a pair whose outputs came from a job of an open round
    the caller may judge keeps its provenance to itself (app.evaluation.rounds)."""
    out = [ItemOut.model_validate(row) for row in rows]
    pairs = [item for item in out if item.origin in rounds.PAIR_ORIGINS]
    blinded = rounds.blinded_jobs(session, project_id=project_id, user=user) if pairs else set()
    for item in pairs:
        if blinded & rounds.provenance_jobs(session, item.provenance):
            item.provenance = {}
    return out


class BulkIn(BaseModel):
    """A bulk action over every item matching the filters (the item list's), as the per-page
    actions do it: submit (items ready for review), tag, or delete (drafts only); items the
    caller may not change are left as they are."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["submit", "tag", "delete"]
    tag: str = Field("", max_length=100, description="The tag to add (action tag).")
    filter: ItemQuery = Field(
        default_factory=ItemQuery, description="Which items: all of the project when empty."
    )


@router.post(
    "/projects/{project_id}/items/bulk",
    response_model=TaskOut,
    status_code=202,
    name="api_items_bulk",
)
def bulk_action(project_id: PathId, body: BulkIn, session: DbSession, user: ProjectAnnotator):
    """Queue a bulk action over every matching item (202, the background task): poll the task
    until it is done; its result says how many of how many items changed (changed, items).
    Items written after this call are never touched."""
    project = projects.get_project(session=session, project_id=project_id)
    task = bulk_task.start(
        session=session,
        project=project,
        f=item_filter(project.id, body.filter.as_params())[0],
        action=body.action,
        tag=body.tag,
        actor=user,
    )
    return TaskOut.model_validate(task)
