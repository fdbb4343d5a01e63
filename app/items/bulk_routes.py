"""Bulk actions from the item list: on the items ticked on the page, at once; or on every
item matching the list's filters, confirmed on a page that counts them, as a background
task whose page shows its progress and leads back to the list."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from app import i18n
from app.assignments.forms import item_filter
from app.auth.deps import Member, ProjectAnnotator
from app.db import DbSession
from app.errors import InvalidInput
from app.i18n import N_
from app.items import bulk_task, forms, service
from app.members import access as members
from app.models import User
from app.projects import service as projects
from app.web import form_rejection, in_reader_language, redirect, render

router = APIRouter()
Form_ = Annotated[FormData, Depends(forms.form_data)]


@router.post("/projects/{project_id}/items/bulk", name="items_bulk")
def bulk_action(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    member: Member,
    project_id: int,
    action: Annotated[str, Form(pattern="^(submit|tag|delete)$")],
    item_ids: Annotated[list[int] | None, Form()] = None,
    tag: Annotated[str, Form(max_length=100)] = "",
):
    """Tag, submit or delete (drafts only) the selected items."""
    project = projects.get_project(session=session, project_id=project_id)
    ids = service.visible_ids(
        session=session,
        project_id=project_id,
        item_ids=item_ids or [],
        drafts_of=members.drafts_of(found=member, drafts_shared=project.drafts_shared),
    )
    if not ids:
        raise InvalidInput(N_("Select at least one item."))
    if action == "submit":
        done = service.bulk_submit(session=session, project_id=project_id, item_ids=ids, actor=user)
    elif action == "tag":
        done = service.bulk_tag(
            session=session, project_id=project_id, item_ids=ids, tag=tag, actor=user
        )
    else:
        done = service.bulk_delete_drafts(
            session=session, project_id=project_id, item_ids=ids, actor=user
        )
    back = request.headers.get("HX-Current-URL") or request.app.url_path_for(
        "items", project_id=project_id
    )
    return redirect(request, _same_site(back), toast=("success", changed(request, done, len(ids))))


@router.get("/projects/{project_id}/items/bulk/all", name="items_bulk_all")
def bulk_all_page(request: Request, session: DbSession, user: ProjectAnnotator, project_id: int):
    """How many items match the list's filters, and the action to apply to all of them."""
    return _bulk_all_page(request, session, user, project_id, request.query_params)


@router.post("/projects/{project_id}/items/bulk/all", name="items_bulk_all_start")
def bulk_all_start(
    request: Request, session: DbSession, user: ProjectAnnotator, project_id: int, form: Form_
) -> Response:
    """Queue the action over every matching item; the task's page shows its progress."""
    project = projects.get_project(session=session, project_id=project_id)
    with form_rejection(status=422) as rejected:
        task = bulk_task.start(
            session=session,
            project=project,
            f=item_filter(project.id, form)[0],
            action=str(form.get("action", "")),
            tag=str(form.get("new_tag", ""))[:100],
            actor=user,
        )
    if rejected:
        return _bulk_all_page(
            request,
            session,
            user,
            project_id,
            form,
            error=rejected.error,
            status=rejected.status,
        )
    return redirect(request, request.app.url_path_for("task", task_id=task.id))


def _bulk_all_page(request, session, user, project_id, params, *, error=None, status=200):
    project = projects.get_project(session=session, project_id=project_id)
    f, kept = item_filter(project.id, params)
    count, _last_id = bulk_task.matching(session, bulk_task.as_seen_by(session, project, f, user))
    return render(
        request,
        "items/bulk_all.html",
        {
            "project": project,
            "filters": kept,
            "author_email": _email(session, f.author_id),
            "matching": count,
            "action": str(params.get("action", "")),
            "new_tag": str(params.get("new_tag", ""))[:100],
            "errors": getattr(error, "errors", None) or {},
            "error": error,
        },
        status_code=status,
    )


def _email(session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id else None
    return user.email if user else None


def changed(request: Request, count: int, total: int) -> str:
    """The toast "3 of 5 items changed." in the reader's language."""
    with in_reader_language(request):
        return i18n.ngettext(
            "%(count)s of %(total)s item changed.",
            "%(count)s of %(total)s items changed.",
            total,
            count=count,
            total=total,
        )


def _same_site(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path + (f"?{parts.query}" if parts.query else "")) or "/"
