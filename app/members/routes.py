"""The members page of a project: who is in it, in which role, with what quota."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.auth.deps import ProjectManager
from app.db import DbSession
from app.errors import Conflict
from app.i18n import N_
from app.members import access, forms, service
from app.models import ProjectRole
from app.projects import service as projects
from app.web import form_rejection, redirect, render

router = APIRouter()

# Labels of project roles, for label(code, table) in the templates.
PROJECT_ROLE_LABELS = {
    "annotator": N_("annotator"),
    "reviewer": N_("reviewer"),
    "manager": N_("manager"),
}


def _page(
    request,
    session,
    *,
    project_id: int,
    form=None,
    errors=None,
    error=None,
    row_form=None,
    status=200,
):
    """The members page; ``form`` and ``errors`` belong to the add form, ``row_form`` to the
    one member row that was refused (its values as typed, its ``user_id`` and ``errors``)."""
    return render(
        request,
        "members/list.html",
        {
            "project": projects.get_project(session=session, project_id=project_id),
            "rows": service.list_members(session=session, project_id=project_id),
            "candidates": service.non_members(session=session, project_id=project_id),
            "roles": list(ProjectRole),
            "role_labels": PROJECT_ROLE_LABELS,
            "form": form or {"user_id": "", "role": "", "quota": ""},
            "errors": errors or {},
            "error": error,
            "row_form": row_form,
        },
        status_code=status,
    )


def _back(request, project_id: int) -> str:
    return request.app.url_path_for("members", project_id=project_id)


def _onward(request, session, user, project_id: int) -> str:
    """The members page, or, for a manager who just left or stepped down, what they still
    may see: the project's page, or the list of their projects."""
    role = access.role_in(session, user=user, project_id=project_id)
    if role is None:
        return request.app.url_path_for("projects")
    if role.rank < ProjectRole.manager.rank:
        return request.app.url_path_for("project", project_id=project_id)
    return _back(request, project_id)


@router.get("/projects/{project_id}/members", name="members")
def list_members(
    request: Request, session: DbSession, user: ProjectManager, project_id: int
) -> Response:
    """A project's members with their roles and quotas, and the form to add someone."""
    return _page(request, session, project_id=project_id)


@router.post("/projects/{project_id}/members", name="members_add")
def add_member(
    request: Request,
    session: DbSession,
    user: ProjectManager,
    project_id: int,
    user_id: Annotated[str, Form(max_length=20)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    quota: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Add a person to the project; an invalid form comes back with the messages inline."""
    project = projects.get_project(session=session, project_id=project_id)
    with form_rejection(status=400, also=(Conflict,)) as rejected:
        _, added = forms.add_from_form(
            session=session, project=project, user_id=user_id, role=role, quota=quota, actor=user
        )
    if rejected:
        form = {"user_id": user_id, "role": role, "quota": quota}
        return _page(
            request,
            session,
            project_id=project_id,
            form=form,
            errors=rejected.errors,
            error=rejected.error,
            status=rejected.status,
        )
    return redirect(
        request,
        _back(request, project_id),
        toast=("success", N_("%(email)s added to the project."), {"email": added.email}),
    )


@router.post("/projects/{project_id}/members/{user_id}", name="members_change")
def change_member(
    request: Request,
    session: DbSession,
    user: ProjectManager,
    project_id: int,
    user_id: int,
    version: Annotated[int, Form()],
    role: Annotated[str, Form(max_length=20)] = "",
    quota: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Change a member's role or quota (optimistic locking on the version shown)."""
    with form_rejection(status=400, also=(Conflict,)) as rejected:
        forms.change_from_form(
            session=session,
            project_id=project_id,
            user_id=user_id,
            role=role,
            quota=quota,
            expected_version=version,
            actor=user,
        )
    if rejected:
        row_form = {"user_id": user_id, "role": role, "quota": quota, "errors": rejected.errors}
        return _page(
            request,
            session,
            project_id=project_id,
            error=rejected.error,
            row_form=None if isinstance(rejected.error, Conflict) else row_form,
            status=rejected.status,
        )
    return redirect(
        request,
        _onward(request, session, user, project_id),
        toast=("success", N_("Membership changed.")),
    )


@router.post("/projects/{project_id}/members/{user_id}/remove", name="members_remove")
def remove_member(
    request: Request, session: DbSession, user: ProjectManager, project_id: int, user_id: int
) -> Response:
    """Take a person out of the project; their work stays, their open assignments go."""
    service.remove_member(session=session, project_id=project_id, user_id=user_id, actor=user)
    return redirect(
        request,
        _onward(request, session, user, project_id),
        toast=("success", N_("Removed from the project.")),
    )
