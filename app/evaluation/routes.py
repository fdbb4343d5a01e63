"""Evaluation pages: a project's rounds, the new-round form with its live prompt count, a
round's progress and results (live for its non-judging managers, final once closed), closing,
the judgments as CSV, and the project's leaderboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import FormData

from app import i18n
from app.auth.deps import Member, ProjectAnnotator, ProjectManager, ProjectReviewer
from app.db import DbSession
from app.demo import evaluation as demo
from app.errors import Conflict, InvalidInput
from app.evaluation import forms, judging, leaderboard, rounds, systems, views
from app.i18n import N_
from app.items.forms import form_data
from app.members.access import Membership
from app.models import ProjectRole, User
from app.pairs import from_round
from app.projects import service as projects
from app.web import error_text, form_rejection, in_reader_language, redirect, render

router = APIRouter()
Form_ = Annotated[FormData, Depends(form_data)]
ALPHA_REASONS = {
    "no unit has two or more values to pair": N_("no prompt has two judgments to compare yet"),
    "every pairable value is the same (D_e = 0)": N_(
        "every judgment is the same, so alpha is undefined (D_e = 0)"
    ),
}


@router.get("/projects/{project_id}/evaluation", name="evaluation")
def evaluation(
    request: Request, session: DbSession, user: ProjectAnnotator, member: Member, project_id: int
):
    """The project's evaluation rounds: every round for reviewers, an annotator's own rounds."""
    return render(
        request,
        "evaluation/list.html",
        {
            "project": projects.get_project(session=session, project_id=project_id),
            "rows": views.visible_rounds(session, project_id=project_id, user=user, member=member),
            "side_names": systems.SIDE_NAMES,
            "demo_job": demo.pending_demo_job(session, project_id),
        },
    )


def _form_page(
    request, session, project_id: int, form: forms.RoundForm, *, error=None, status: int = 200
):
    project = projects.get_project(session=session, project_id=project_id)
    return render(
        request,
        "evaluation/new.html",
        {
            "project": project,
            "form": form,
            "error": error,
            "count": _count(session, project, form),
            "side_names": systems.SIDE_NAMES,
            "bounds": forms.BOUNDS,
            **views.form_choices(session, project_id=project_id),
        },
        status_code=status,
    )


def _count(session, project, form: forms.RoundForm) -> dict:
    """How many prompts the form's round would have, or why there are none."""
    state, data = forms.parse({**form.values, "limit": form.limit}, need_name=False)
    if data is None:
        return {"n": None, "message": None}
    try:
        return {"n": rounds.count_prompts(session, project=project, data=data), "message": None}
    except InvalidInput as error:
        return {"n": None, "message": error_text(error)}


@router.get("/projects/{project_id}/evaluation/new", name="round_new")
def round_new(
    request: Request,
    session: DbSession,
    user: ProjectManager,
    project_id: int,
    job_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
):
    """The new-round form; from a job's page, that job's tuned outputs against its base."""
    known = {s.key for s, _ in systems.choices(session, project_id=project_id)}
    name = ""
    if job_id is not None:
        with in_reader_language(request):
            name = i18n.gettext(N_("Job %(id)s: tuned against base"), id=job_id)
    return _form_page(request, session, project_id, forms.blank(job_id, known, name=name))


@router.get("/projects/{project_id}/evaluation/count", name="round_count")
def round_count(request: Request, session: DbSession, user: ProjectManager, project_id: int):
    """The live "N prompts in common" line of the form (htmx, on every change)."""
    project = projects.get_project(session=session, project_id=project_id)
    form, data = forms.parse(request.query_params, need_name=False)
    found: dict = {"n": None, "message": None}
    status = 200
    if data is not None:
        try:
            found["n"] = rounds.count_prompts(session, project=project, data=data)
        except InvalidInput as error:
            found["message"], status = error_text(error), 422
    return render(
        request, "evaluation/_count.html", {"count": found, "form": form}, status_code=status
    )


@router.post("/projects/{project_id}/evaluation", name="round_create")
def round_create(
    request: Request, session: DbSession, user: ProjectManager, project_id: int, form: Form_
):
    """Create a round over the prompts both systems share; bad fields come back inline."""
    state, data = forms.parse(form)
    if data is None:
        return _form_page(request, session, project_id, state, status=422)
    project = projects.get_project(session=session, project_id=project_id)
    with form_rejection() as rejected:
        created = rounds.create_round(session, project=project, data=data, actor=user)
    if rejected:
        forms.take_errors(state, rejected.error)
        return _form_page(
            request, session, project_id, state, error=rejected.error, status=rejected.status
        )
    return redirect(
        request,
        request.app.url_path_for("round", round_id=created.id),
        toast=("success", N_("Evaluation round created.")),
    )


def _round_page(
    request, session, user: User, member: Membership, round_id: int, *, error=None, status=200
):
    found = rounds.get_round(session, round_id=round_id)
    rounds.check_open(session, found=found, user=user, member=member)
    return render(
        request,
        "evaluation/round.html",
        {
            **_round_context(session, found, user),
            "project": projects.get_project(session=session, project_id=found.project_id),
            "error": error,
        },
        status_code=status,
    )


def _round_context(session, found, user: User) -> dict:
    view = views.round_view(session, found=found, user=user)
    a, b = rounds.systems_of(found)
    return {
        "found": found,
        "view": view,
        # System names reach the template only for those who may see them.
        "systems": (a, b) if view.sees_results else None,
        "side_names": systems.SIDE_NAMES,
        "verdict_names": views.VERDICT_NAMES,
        "reasons": judging.REASONS,
        "alpha_reasons": ALPHA_REASONS,
        "segments": views.segments,
        "min_judgments": from_round.form_bounds(found),
    }


@router.get("/rounds/{round_id}", name="round")
def round_page(
    request: Request, session: DbSession, user: ProjectAnnotator, member: Member, round_id: int
):
    """A round: its progress, the caller's own part, and the results for those who see them."""
    return _round_page(request, session, user, member, round_id)


@router.get("/rounds/{round_id}/results", name="round_results")
def round_results(
    request: Request, session: DbSession, user: ProjectAnnotator, member: Member, round_id: int
):
    """The results section of a round (polled by htmx while the round runs)."""
    found = rounds.get_round(session, round_id=round_id)
    rounds.check_open(session, found=found, user=user, member=member)
    views.check_results(session, found=found, user=user)
    return render(request, "evaluation/_results.html", _round_context(session, found, user))


@router.post("/rounds/{round_id}/close", name="round_close")
def round_close(
    request: Request,
    session: DbSession,
    user: ProjectManager,
    member: Member,
    round_id: int,
    # Required: closing what someone else changed meanwhile answers 409 instead.
    version: Annotated[int, Form(ge=1, le=2**31 - 1)],
):
    """Close a round: judging stops and the systems' names are shown to its judges."""
    found = rounds.get_round(session, round_id=round_id)
    with form_rejection(also=(Conflict,)) as rejected:
        rounds.close_round(session, found=found, actor=user, expected_version=version)
    if rejected:
        return _round_page(
            request, session, user, member, round_id, error=rejected.error, status=rejected.status
        )
    return redirect(
        request,
        request.app.url_path_for("round", round_id=round_id),
        toast=("success", N_("Round closed: the systems' names are shown.")),
    )


@router.get("/rounds/{round_id}/export.csv", name="round_export")
def round_export(request: Request, session: DbSession, user: ProjectReviewer, round_id: int):
    """Every judgment of the round in the systems' terms, as CSV (for those who see results)."""
    from app.evaluation import export  # written alongside; imported when first needed

    found = rounds.get_round(session, round_id=round_id)
    views.check_results(session, found=found, user=user)
    return StreamingResponse(
        export.stream_csv(request.app.state.open_session, found.id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.file_name(found)}"'},
    )


@router.get("/projects/{project_id}/leaderboard", name="leaderboard")
def leaderboard_page(
    request: Request, session: DbSession, user: ProjectReviewer, member: Member, project_id: int
):
    """Every system of the project's closed pairwise rounds, ranked by Bradley–Terry strength."""
    board = leaderboard.leaderboard(session, project_id=project_id)
    return render(
        request,
        "evaluation/leaderboard.html",
        {
            "project": projects.get_project(session=session, project_id=project_id),
            "board": board,
            "bars": views.interval_bars(board),
            "side_names": systems.SIDE_NAMES,
            "resamples": leaderboard.RESAMPLES,
            "can_create": member.at_least(ProjectRole.manager),
        },
    )
