"""The labeling queue (number keys pick labels) and the agreement page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError

from app.auth.deps import Member, ProjectAnnotator, ProjectReviewer
from app.core import prompts
from app.core.kinds import ItemContent
from app.db import DbSession
from app.errors import Conflict
from app.evaluation import rounds
from app.i18n import N_
from app.items.schemas import LabelIn
from app.labeling import service
from app.members import access as members
from app.projects import service as projects
from app.web import form_rejection, redirect, render

router = APIRouter()


def preview_of(item):
    return prompts.render_messages(ItemContent.from_row(item))


def _page(request, session, project, user, *, item, form=None, errors=None, status=200):
    context = {
        "project": project,
        "item": item,
        "form": form or {},
        "errors": errors or {},
        "flags": service.FLAGS,
    }
    if item is not None:
        context["messages"] = preview_of(item)
        context["others"] = service.others_for(
            session=session, project=project, item=item, viewer=user
        )
        context["hidden"] = project.blind_mode and not context["others"]
        context["blind_provenance"] = rounds.blinds_provenance(session, item=item, user=user)
    return render(request, "labeling/label.html", context, status_code=status)


@router.get("/projects/{project_id}/label", name="label_next")
def label_next(
    request: Request, session: DbSession, user: ProjectAnnotator, member: Member, project_id: int
):
    """The next item this annotator should label."""
    project = projects.get_project(session=session, project_id=project_id)
    item = service.next_item(
        session=session,
        project=project,
        annotator=user,
        drafts_of=members.drafts_of(found=member, drafts_shared=project.drafts_shared),
    )
    return _page(request, session, project, user, item=item)


@router.post("/projects/{project_id}/label/{item_id}", name="label_submit")
def label_submit(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    project_id: int,
    item_id: int,
    kind: Annotated[str, Form()] = "",
    domain: Annotated[str, Form(max_length=100)] = "",
    difficulty: Annotated[str, Form()] = "",
    quality: Annotated[str, Form()] = "",
    flags: Annotated[list[str] | None, Form()] = None,
):
    """Save this annotator's labels and move on to the next item."""
    project, item = service.item_in_project(session=session, project_id=project_id, item_id=item_id)
    form = {
        "kind": kind,
        "domain": domain,
        "difficulty": difficulty,
        "quality": quality,
        "flags": flags or [],
    }
    try:
        data = LabelIn(
            kind=kind,
            domain=domain or None,
            difficulty=difficulty or 0,
            quality=quality or 0,
            flags=flags or [],
        )
    except ValidationError as error:
        errors = {str(e["loc"][0]): N_("Choose a value.") for e in error.errors()}
        return _page(
            request, session, project, user, item=item, form=form, errors=errors, status=422
        )
    # A label the rules refuse is a conflict with the item's state, whatever the error.
    with form_rejection(status=409, also=(Conflict,)) as rejected:
        service.submit_label(session=session, project=project, item=item, annotator=user, data=data)
    if rejected:
        errors = {"form": rejected.error.message}
        return _page(
            request, session, project, user, item=item, form=form, errors=errors, status=409
        )
    return redirect(
        request,
        request.app.url_path_for("label_next", project_id=project.id),
        toast=("success", N_("Labels saved.")),
    )


@router.get("/projects/{project_id}/agreement", name="agreement")
def agreement_page(request: Request, session: DbSession, user: ProjectReviewer, project_id: int):
    """Cohen's kappa per annotator pair and Krippendorff's alpha, per field."""
    project = projects.get_project(session=session, project_id=project_id)
    results, summary = service.project_agreement(session=session, project=project)
    return render(
        request,
        "labeling/agreement.html",
        {"project": project, "results": results, "summary": summary},
    )
