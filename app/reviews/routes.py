"""Review pages: the queue, the review screen (keyboard driven), reopen, the inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.auth.deps import Annotator, ProjectReviewer
from app.core import status as machine
from app.db import DbSession
from app.errors import Conflict, Forbidden
from app.evaluation import rounds
from app.i18n import N_
from app.items import service as items
from app.members import access as members
from app.projects import service as projects
from app.reviews import screen, service
from app.reviews.service import QueueFilter
from app.web import form_rejection, redirect, render

router = APIRouter()


def _filter(project_id: int, params) -> QueueFilter:
    def value(name):
        return (params.get(name) or "").strip() or None

    author = value("author")
    return QueueFilter(
        project_id=project_id,
        kind=value("kind"),
        domain=value("domain"),
        author_id=int(author) if author and author.isdigit() else None,
        tag=value("tag"),
        reason=value("reason"),
    )


@router.get("/projects/{project_id}/review", name="review_queue")
def review_queue(request: Request, session: DbSession, user: ProjectReviewer, project_id: int):
    """The review queue: filters and a start button."""
    project = projects.get_project(session=session, project_id=project_id)
    overview = screen.queue_overview(session=session, project=project)
    return render(
        request,
        "reviews/queue.html",
        {
            "project": project,
            "waiting": overview.waiting,
            "reasons": machine.REASONS,
            "domains": overview.domains,
            "authors": overview.authors,
            "params": request.query_params,
        },
    )


def _go_next(request: Request, session, user, project_id: int, params, after=None) -> Response:
    item = service.claim_next(
        session=session, reviewer=user, f=_filter(project_id, params), after=after
    )
    query = request.url.query
    if item is None:
        return redirect(
            request,
            request.app.url_path_for("review_queue", project_id=project_id) + "?done=1",
            toast=("success", N_("The queue is empty. Well done.")),
        )
    url = request.app.url_path_for("review_item", item_id=item.id)
    return redirect(request, url + (f"?{query}" if query else ""))


@router.post("/projects/{project_id}/review/next", name="review_next")
def review_next(request: Request, session: DbSession, user: ProjectReviewer, project_id: int):
    """Lease the next item for this reviewer and open it."""
    projects.get_project(session=session, project_id=project_id)
    return _go_next(request, session, user, project_id, request.query_params)


def _review_page(request, session, user, item_id: int, *, error=None, status: int = 200):
    item = items.get_item(session=session, item_id=item_id)
    project = projects.get_project(session=session, project_id=item.project_id)
    sheet = screen.review_sheet(
        session=session, item=item, reviewer=user, approvals_needed=project.approvals_needed
    )
    return render(
        request,
        "reviews/item.html",
        {
            "project": project,
            "item": item,
            "blind_provenance": rounds.blinds_provenance(session, item=item, user=user),
            "messages": sheet.messages,
            "verdicts": sheet.verdicts,
            "duplicates": sheet.duplicates,
            "reasons": machine.REASONS,
            "error": error,
            "record": sheet.record,
            "history": sheet.history,
            "author": sheet.author,
            "own": sheet.own,
            "refusal": sheet.refusal,
            "approve_refusal": sheet.approve_refusal,
            "query": request.url.query,
            "previous": sheet.previous,
        },
        status_code=status,
    )


@router.get("/items/{item_id}/review", name="review_item")
def review_item(request: Request, session: DbSession, user: ProjectReviewer, item_id: int):
    """The item as the model will see it, with everything a reviewer needs to decide."""
    return _review_page(request, session, user, item_id)


@router.post("/items/{item_id}/review", name="review_decide")
def review_decide(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    item_id: int,
    decision: Annotated[str, Form(pattern="^(approve|reject|request_changes)$")],
    version: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=40)] = "",
    comment: Annotated[str, Form(max_length=5000)] = "",
):
    """Record a decision, then open the next item in the queue."""
    item = items.get_item(session=session, item_id=item_id)
    with form_rejection(also=(Conflict, Forbidden)) as rejected:
        service.decide(
            session=session,
            item_id=item_id,
            reviewer=user,
            decision=decision,
            version=version,
            reason=reason or None,
            comment=comment,
        )
    if rejected:
        return _review_page(
            request, session, user, item_id, error=rejected.error, status=rejected.status
        )
    return _go_next(request, session, user, item.project_id, request.query_params)


@router.post("/items/{item_id}/skip", name="review_skip")
def review_skip(request: Request, session: DbSession, user: ProjectReviewer, item_id: int):
    """Give the item back to the queue and open the one after it."""
    item = items.get_item(session=session, item_id=item_id)
    service.release(session=session, item_id=item_id, reviewer=user)
    after = item if item.status == "submitted" else None
    return _go_next(request, session, user, item.project_id, request.query_params, after)


@router.post("/items/{item_id}/reopen", name="review_reopen")
def review_reopen(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    item_id: int,
    reason: Annotated[str, Form(max_length=40)],
    comment: Annotated[str, Form(max_length=5000)] = "",
):
    """Send an approved item back for a new review round."""
    service.reopen(session=session, item_id=item_id, actor=user, reason=reason, comment=comment)
    return redirect(
        request,
        request.app.url_path_for("review_item", item_id=item_id),
        toast=("success", N_("Item reopened for review.")),
    )


@router.get("/inbox", name="inbox")
def inbox(request: Request, session: DbSession, user: Annotator):
    """Items sent back to me, with the reviewer's comments."""
    return render(
        request,
        "reviews/inbox.html",
        {
            "entries": service.inbox(
                session=session, author=user, within=members.project_ids(session, user=user)
            ),
            "reasons": machine.REASONS,
        },
    )
