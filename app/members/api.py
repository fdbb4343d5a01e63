"""JSON API for a project's members."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.apidoc import ERRORS, PathId
from app.auth.deps import ProjectManager, ProjectReviewer
from app.db import DbSession
from app.members import service
from app.members.schemas import MemberCreate, MemberOut, MemberPatch
from app.models import ProjectRole
from app.projects import service as projects
from app.users import service as users

router = APIRouter(prefix="/api/v1", tags=["members"], responses=ERRORS)


@router.get("/projects/{project_id}/members", response_model=list[MemberOut], name="api_members")
def list_members(project_id: PathId, session: DbSession, user: ProjectReviewer) -> list[MemberOut]:
    """A project's members, managers first, with what they contributed towards their quota."""
    return [
        MemberOut.of(row) for row in service.list_members(session=session, project_id=project_id)
    ]


@router.post(
    "/projects/{project_id}/members",
    response_model=MemberOut,
    status_code=201,
    name="api_members_add",
)
def add_member(
    project_id: PathId, body: MemberCreate, session: DbSession, user: ProjectManager
) -> MemberOut:
    """Add a person by email or id; an unknown person is 404, a member already 409."""
    project = projects.get_project(session=session, project_id=project_id)
    if body.email is not None:
        person = users.find_by_email(session=session, email=body.email)
    else:
        person = users.get_user(session=session, user_id=body.user_id)
    role = body.role or ProjectRole.for_global_role(person.role).value
    service.add_member(
        session=session, project=project, user=person, role=role, actor=user, quota=body.quota
    )
    return MemberOut.of(
        service.member_row(session=session, project_id=project_id, user_id=person.id)
    )


@router.patch(
    "/projects/{project_id}/members/{user_id}",
    response_model=MemberOut,
    name="api_members_change",
)
def change_member(
    project_id: PathId, user_id: PathId, body: MemberPatch, session: DbSession, user: ProjectManager
) -> MemberOut:
    """Change a member's role or quota; a stale version answers 409."""
    service.update_member(
        session=session,
        project_id=project_id,
        user_id=user_id,
        changes=body.model_dump(include={"role", "quota"}, exclude_unset=True),
        expected_version=body.version,
        actor=user,
    )
    return MemberOut.of(service.member_row(session=session, project_id=project_id, user_id=user_id))


@router.delete(
    "/projects/{project_id}/members/{user_id}",
    status_code=204,
    response_class=Response,
    name="api_members_remove",
)
def remove_member(
    project_id: PathId, user_id: PathId, session: DbSession, user: ProjectManager
) -> Response:
    """Take a person out of the project; their work stays, their open assignments go."""
    service.remove_member(session=session, project_id=project_id, user_id=user_id, actor=user)
    return Response(status_code=204)
