"""Project pages: list, create and edit (admins), detail with rendered guidelines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.assignments import service as assignments
from app.auth.deps import Admin, Annotator, ProjectAnnotator, ProjectManager
from app.db import DbSession
from app.errors import Conflict
from app.i18n import N_
from app.items import repository
from app.markdown import render_markdown
from app.members import access as members
from app.projects import service
from app.projects.forms import ProjectForm, saved_values
from app.projects.service import ProjectInput
from app.web import form_rejection, redirect, render

router = APIRouter()


def _form_page(request, *, project=None, form=None, errors=None, error=None, status=200):
    return render(
        request,
        "projects/form.html",
        {"project": project, "form": form, "errors": errors or {}, "error": error},
        status_code=status,
    )


@router.get("/", name="home")
def home(request: Request, session: DbSession, user: Annotator) -> Response:
    """The start page: work assigned to the caller, their quotas, then their projects."""
    within = members.project_ids(session, user=user)
    return render(
        request,
        "home.html",
        {
            "assigned": assignments.open_for(session=session, user=user, project_ids=within),
            "quotas": assignments.quotas_for(session=session, user=user),
            "projects": service.list_projects(session=session, within=within),
        },
    )


@router.get("/projects", name="projects")
def list_projects(request: Request, session: DbSession, user: Annotator) -> Response:
    """The projects the caller is a member of (every project, for an admin)."""
    within = members.project_ids(session, user=user)
    return render(
        request,
        "projects/list.html",
        {"projects": service.list_projects(session=session, within=within)},
    )


@router.get("/projects/new", name="project_new")
def new_project(request: Request, user: Admin) -> Response:
    """The form for a new project."""
    return _form_page(request, form=ProjectInput(name=""))


@router.post("/projects/new", name="project_create")
def create_project(
    request: Request, session: DbSession, user: Admin, form: Annotated[ProjectForm, Form()]
) -> Response:
    """Create a project; errors come back inline with the text kept."""
    data = form.as_input()
    with form_rejection(status=400, also=(Conflict,)) as rejected:
        project = service.create_project(session=session, data=data, actor=user)
    if rejected:
        errors = rejected.errors
        if isinstance(rejected.error, Conflict):
            errors = {"name": N_("This name is already taken.")}
        return _form_page(
            request, form=data, errors=errors, error=rejected.error, status=rejected.status
        )
    return redirect(
        request,
        request.app.url_path_for("project", project_id=project.id),
        toast=("success", N_("Project created.")),
    )


@router.get("/projects/{project_id}", name="project")
def project_detail(
    request: Request, session: DbSession, user: ProjectAnnotator, project_id: int
) -> Response:
    """A project's guidelines, schema and item counts."""
    project = service.get_project(session=session, project_id=project_id)
    counts = repository.counts_by_status(
        session, repository.ItemFilter(project_id=project.id), cap=10**9
    ).counts  # the project's page shows exact figures
    return render(
        request,
        "projects/detail.html",
        {
            "project": project,
            "guidelines_html": render_markdown(project.guidelines),
            "counts": counts,
            "versions": service.guideline_versions(session=session, project_id=project.id),
        },
    )


@router.get("/projects/{project_id}/guidelines/{version}", name="project_guidelines")
def guideline_version(
    request: Request, session: DbSession, user: ProjectAnnotator, project_id: int, version: int
) -> Response:
    """One past version of the guidelines, as items written under it saw them."""
    project = service.get_project(session=session, project_id=project_id)
    row = service.get_guideline_version(session=session, project_id=project_id, version=version)
    return render(
        request,
        "projects/guidelines.html",
        {"project": project, "row": row, "guidelines_html": render_markdown(row.guidelines)},
    )


@router.get("/projects/{project_id}/edit", name="project_edit")
def edit_project(
    request: Request, session: DbSession, user: ProjectManager, project_id: int
) -> Response:
    """The form for a project's settings and guidelines."""
    project = service.get_project(session=session, project_id=project_id)
    return _form_page(request, project=project, form=saved_values(project))


@router.post("/projects/{project_id}/edit", name="project_update")
def update_project(
    request: Request,
    session: DbSession,
    user: ProjectManager,
    project_id: int,
    version: Annotated[int, Form()],
    form: Annotated[ProjectForm, Form()],
) -> Response:
    """Save settings; a changed guideline text becomes a new guideline version."""
    data = form.as_input()
    with form_rejection(status=400, also=(Conflict,)) as rejected:
        project = service.update_project(
            session=session, project_id=project_id, data=data, expected_version=version, actor=user
        )
    if rejected:
        return _form_page(
            request,
            project=service.get_project(session=session, project_id=project_id),
            form=data,
            errors=rejected.errors,
            error=rejected.error,
            status=rejected.status,
        )
    return redirect(
        request,
        request.app.url_path_for("project", project_id=project.id),
        toast=("success", N_("Project saved.")),
    )
