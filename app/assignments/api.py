"""JSON API for assignments: the same rules and errors as the assign page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.apidoc import ERRORS, PathId, QueryId
from app.assignments import forms, service
from app.assignments.schemas import (
    AssignIn,
    AssignmentOut,
    OpenAssignmentOut,
    SummaryOut,
    Task,
    UnassignIn,
)
from app.auth.deps import Annotator, ProjectManager, ProjectReviewer
from app.db import DbSession
from app.members import access as members

router = APIRouter(prefix="/api/v1", tags=["assignments"], responses=ERRORS)


@router.get(
    "/projects/{project_id}/assignments",
    response_model=list[AssignmentOut],
    name="api_assignments",
)
def list_assignments(
    session: DbSession,
    user: ProjectReviewer,
    project_id: PathId,
    user_id: QueryId = None,
    task: Task | None = None,
    after_id: QueryId = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
):
    """The project's assignments, oldest first, with whether each is done (page by after_id)."""
    return service.listing(
        session=session,
        project_id=project_id,
        user_id=user_id,
        task=task,
        limit=limit,
        after_id=after_id,
    )


@router.post(
    "/projects/{project_id}/assignments",
    response_model=SummaryOut,
    name="api_assignments_assign",
)
def assign(body: AssignIn, session: DbSession, user: ProjectManager, project_id: PathId):
    """Make the people named (by id or email) exactly the task's assignees on each item named,
    or on every item matching the item list's filters."""
    ids = list(body.user_ids) + service.user_ids_for(session=session, emails=body.emails)
    items = body.item_ids
    if body.matching is not None:
        found = forms.item_filter(project_id, body.matching.as_params())[0]
        items = forms.matching_ids(session, found)
    return service.assign(
        session=session,
        project_id=project_id,
        item_ids=items,
        task=body.task,
        user_ids=ids,
        due_date=body.due_date,
        actor=user,
    )


@router.post(
    "/projects/{project_id}/assignments/remove",
    response_model=SummaryOut,
    name="api_assignments_remove",
)
def unassign(body: UnassignIn, session: DbSession, user: ProjectManager, project_id: PathId):
    """Take the people named (everyone, when user_ids is left out) off the task."""
    return service.unassign(
        session=session,
        project_id=project_id,
        item_ids=body.item_ids,
        task=body.task,
        user_ids=body.user_ids,
        actor=user,
    )


@router.get("/me/assignments", response_model=list[OpenAssignmentOut], name="api_my_assignments")
def my_assignments(session: DbSession, user: Annotator):
    """The caller's open assignments across their projects, soonest due first."""
    within = members.project_ids(session, user=user)
    return service.open_for(session=session, user=user, project_ids=within)
