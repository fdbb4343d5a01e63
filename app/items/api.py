"""JSON API for projects, items and labels: the same rules and errors as the pages."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import Admin, Annotator
from app.db import DbSession
from app.errors import InvalidInput
from app.i18n import N_
from app.items import repository, service
from app.items.schemas import ItemIn, ItemOut, ItemPage, LabelIn
from app.labeling import service as labeling
from app.projects import service as projects
from app.projects.service import ProjectInput

router = APIRouter(prefix="/api/v1", tags=["items"])


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    guidelines: str = ""
    domains: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["en", "zh"])
    approvals_needed: int = 1
    labeling_overlap: int = 1
    blind_mode: bool = False


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    guidelines: str
    guideline_version: int
    label_schema: dict
    languages: list[str]
    approvals_needed: int
    labeling_overlap: int
    blind_mode: bool
    version: int


class LabelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: int
    annotator_id: int
    kind: str
    domain: str | None
    difficulty: int
    quality: int
    flags: list[str]


@router.get("/projects", response_model=list[ProjectOut], name="api_projects")
def list_projects(session: DbSession, user: Annotator):
    """All projects."""
    return projects.list_projects(session=session)


@router.post("/projects", response_model=ProjectOut, status_code=201, name="api_projects_create")
def create_project(body: ProjectIn, session: DbSession, user: Admin):
    """Create a project."""
    return projects.create_project(
        session=session, data=ProjectInput(**body.model_dump()), actor=user
    )


@router.get("/projects/{project_id}/items", response_model=ItemPage, name="api_items")
def list_items(
    project_id: int,
    session: DbSession,
    user: Annotator,
    q: Annotated[str, Query(max_length=200)] = "",
    kind: str | None = None,
    status: str | None = None,
    domain: str | None = None,
    tag: str | None = None,
    author: int | None = None,
    difficulty: Annotated[int | None, Query(ge=1, le=5)] = None,
    language: str | None = None,
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
        created_from=created_from,
        created_to=created_to,
        q=q,
        sort=sort,
    )
    rows, next_cursor = repository.page(session, f, cursor=cursor, limit=limit)
    return ItemPage(
        items=[ItemOut.model_validate(r) for r in rows],
        next_cursor=next_cursor,
        counts=None if cursor else repository.counts_by_status(session, f).counts,
        counts_capped_at=repository.COUNT_CAP,
    )


@router.post(
    "/projects/{project_id}/items", response_model=ItemOut, status_code=201, name="api_items_create"
)
def create_item(project_id: int, body: ItemIn, session: DbSession, user: Annotator):
    """Write an item (draft, or submitted with submit=true)."""
    project = projects.get_project(session=session, project_id=project_id)
    return service.create_item(
        session=session, project=project, draft=body, author=user, submit=body.submit
    )


@router.get("/items/{item_id}", response_model=ItemOut, name="api_item")
def get_item(item_id: int, session: DbSession, user: Annotator):
    """One item."""
    return service.get_item(session=session, item_id=item_id)


@router.put("/items/{item_id}", response_model=ItemOut, name="api_item_update")
def update_item(item_id: int, body: ItemIn, session: DbSession, user: Annotator):
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
    )


@router.get(
    "/projects/{project_id}/labeling/next", response_model=ItemOut | None, name="api_label_next"
)
def next_to_label(project_id: int, session: DbSession, user: Annotator):
    """The next item this caller should label, or null when none is left."""
    project = projects.get_project(session=session, project_id=project_id)
    return labeling.next_item(session=session, project=project, annotator=user)


@router.post(
    "/items/{item_id}/labels", response_model=LabelOut, status_code=201, name="api_label_create"
)
def label_item(item_id: int, body: LabelIn, session: DbSession, user: Annotator):
    """Save the caller's labels on an item."""
    item = service.get_item(session=session, item_id=item_id)
    project = projects.get_project(session=session, project_id=item.project_id)
    return labeling.submit_label(
        session=session, project=project, item=item, annotator=user, data=body
    )
