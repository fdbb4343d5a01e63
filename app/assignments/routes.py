"""The assign page: hand chosen items (or every item matching the item list's filters) to
members for a task, see the project's assignments and each assignee's progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from app import i18n
from app.assignments import forms
from app.assignments import service as assignments
from app.assignments.forms import AssignForm
from app.auth.deps import ProjectManager
from app.db import MAX_INTEGER, DbSession
from app.errors import InvalidInput
from app.i18n import N_
from app.members import service as members
from app.projects import service as projects
from app.web import form_rejection, in_reader_language, redirect, render

router = APIRouter()
Form_ = Annotated[FormData, Depends(forms.form_data)]


def _page(
    request: Request,
    session,
    project_id: int,
    *,
    item_ids: list[int],
    params,
    form: AssignForm | None = None,
    errors=None,
    error=None,
    status: int = 200,
) -> Response:
    project = projects.get_project(session=session, project_id=project_id)
    f, kept = forms.item_filter(project.id, params)
    return render(
        request,
        "assignments/assign.html",
        {
            "project": project,
            "item_ids": item_ids,
            "filters": kept,
            "matching": None if item_ids else forms.matching_count(session, f),
            "max_items": assignments.MAX_ITEMS,
            "members": members.list_members(session=session, project_id=project.id),
            "tasks": assignments.TASKS,
            "form": form or AssignForm(),
            "errors": errors or {},
            "error": error,
            "rows": assignments.listing(session=session, project_id=project.id),
            "progress": assignments.progress(session=session, project_id=project.id),
        },
        status_code=status,
    )


@router.get("/projects/{project_id}/assign", name="assign")
def assign_page(
    request: Request,
    session: DbSession,
    user: ProjectManager,
    project_id: int,
    item_id: Annotated[list[int] | None, Query()] = None,
) -> Response:
    """The assign form for chosen items or a filter, with the project's assignments."""
    return _page(request, session, project_id, item_ids=item_id or [], params=request.query_params)


@router.post("/projects/{project_id}/assign", name="assign_submit")
def assign_submit(
    request: Request, session: DbSession, user: ProjectManager, project_id: int, form: Form_
) -> Response:
    """Assign the items; step=choose (from the item list) only opens the form for them."""
    chosen = _ids(form.getlist("item_id") + form.getlist("item_ids"))
    if form.get("step") == "choose":
        return _page(request, session, project_id, item_ids=chosen, params=form)
    typed = AssignForm(
        task=str(form.get("task", "")),
        user_ids=_ids(form.getlist("user_ids")),
        due_date=str(form.get("due_date", ""))[:32],
    )
    with form_rejection(status=422) as rejected:
        due = forms.due_date(typed.due_date)
        ids = chosen or forms.matching_ids(session, forms.item_filter(project_id, form)[0])
        summary = assignments.assign(
            session=session,
            project_id=project_id,
            item_ids=ids,
            task=typed.task,
            user_ids=typed.user_ids,
            due_date=due,
            actor=user,
        )
    if rejected:
        return _page(
            request,
            session,
            project_id,
            item_ids=chosen,
            params=form,
            form=typed,
            errors=rejected.errors,
            error=rejected.error,
            status=rejected.status,
        )
    return redirect(
        request,
        request.app.url_path_for("assign", project_id=project_id),
        toast=("success", _changed(request, summary)),
    )


@router.post("/projects/{project_id}/unassign", name="unassign")
def unassign(
    request: Request,
    session: DbSession,
    user: ProjectManager,
    project_id: int,
    item_id: Annotated[int, Form(ge=1)],
    task: Annotated[str, Form(max_length=16)],
    user_id: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Take one person (or everyone) off a task on an item."""
    assignments.unassign(
        session=session,
        project_id=project_id,
        item_ids=[item_id],
        task=task,
        user_ids=None if user_id is None else [user_id],
        actor=user,
    )
    return redirect(
        request,
        request.app.url_path_for("assign", project_id=project_id),
        toast=("success", N_("Assignment removed.")),
    )


def _ids(values: list) -> list[int]:
    """Whole-number ids from repeated fields; anything else is invalid input."""
    ids = []
    for value in values:
        text = str(value).strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_INTEGER:
            raise InvalidInput(N_("Invalid item or person id."))
        ids.append(int(text))
    return list(dict.fromkeys(ids))


def _changed(request: Request, summary: assignments.Summary) -> str:
    with in_reader_language(request):
        return i18n.ngettext(
            "%(count)s of %(total)s item assigned.",
            "%(count)s of %(total)s items assigned.",
            summary.items,
            count=summary.changed,
            total=summary.items,
        )
