"""Improve a model output in the browser: the prompt and the model's output, read-only, beside
a box for a better response, each with its constraint checks; saving makes a draft pair and
opens the next output of the same list (or the new pair).

A job's outputs are for the project's reviewers (as its results page is); a round's for
whoever sees its results, once it is closed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData

from app.auth.deps import Member, ProjectAnnotator, ProjectReviewer
from app.core.cjk import count_words
from app.db import DbSession
from app.errors import TooLarge
from app.evaluation import rounds, systems
from app.i18n import N_
from app.items.forms import form_data
from app.items.lengths import ContentLimits
from app.jobs import service as jobs
from app.members import access as members
from app.members.access import Membership
from app.pairs import improve, sources
from app.pairs.sources import Source
from app.projects import service as projects
from app.web import form_rejection, redirect, render

router = APIRouter()
Form_ = Annotated[FormData, Depends(form_data)]
Side = Annotated[str, Query(max_length=8)]
SAVED = N_("Draft pair #%(id)s saved.")


@dataclass(frozen=True)
class Place:
    """Where the output is shown, and the links of its improve page."""

    kind: str  # "job" or "round"
    owner_id: int  # the job's or the round's id
    name: str  # the round's name (empty for a job)
    back_url: str
    save_url: str
    check_url: str
    side: str
    # The other output of the same prompt, when it is a model's: (side, its improve page).
    other: tuple[str, str] | None


def _counts(text: str) -> dict[str, int]:
    return {"words": count_words(text), "chars": len(text)}


def _saved_id(text: str) -> int | None:
    # ASCII digits only: str.isdigit also takes "²", which int() refuses.
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None


def _page(
    request: Request,
    session,
    member: Membership,
    source: Source,
    place: Place,
    *,
    chosen: str = "",
    saved: int | None = None,
    error=None,
    status: int = 200,
):
    project = projects.get_project(session=session, project_id=source.project_id)
    drafts_of = members.drafts_of(found=member, drafts_shared=project.drafts_shared)
    return render(
        request,
        "pairs/improve.html",
        {
            "project": project,
            "source": source,
            "place": place,
            "chosen": chosen,
            "saved": saved,
            "error": error,
            "errors": getattr(error, "errors", None) or {},
            "model_checks": improve.checks(source.constraints, source.output),
            "chosen_checks": improve.checks(source.constraints, chosen),
            "model_counts": _counts(source.output),
            "chosen_counts": _counts(chosen),
            "earlier": improve.earlier(session, source=source, drafts_of=drafts_of),
            "side_names": systems.SIDE_NAMES,
        },
        status_code=status,
    )


def _checks(request: Request, source: Source, chosen: str):
    return render(
        request,
        "pairs/_checks.html",
        {
            "checks": improve.checks(source.constraints, chosen),
            "counts": _counts(chosen),
            "checks_id": "chosen-checks",
            "has_constraints": bool(source.constraints),
        },
    )


def _save(request: Request, session, user, member, source: Source, place: Place, form, next_url):
    """Save the pair; on a refusal, the page again with the text kept and the reason."""
    chosen = str(form.get("chosen") or "")
    with form_rejection(also=(TooLarge,)) as rejected:
        item = improve.improve(
            session,
            source=source,
            chosen=chosen,
            actor=user,
            limits=ContentLimits.of(request.app.state.settings),
        )
    if rejected:
        return _page(request, session, member, source, place, chosen=chosen, error=rejected.error,
                     status=422)  # fmt: skip
    following = next_url(item.id) if form.get("then") == "next" else None
    url = following or request.app.url_path_for("item_edit", item_id=item.id)
    return redirect(request, url, toast=("success", SAVED, {"id": item.id}))


# ---- A job's eval outputs ---------------------------------------------------------------------


def _job_place(request: Request, source: Source, item_id: int) -> Place:
    job_id, side = source.job_id, source.system.side
    page = request.app.url_path_for("job_improve", job_id=job_id, item_id=item_id)
    other = "base" if side == "tuned" else "tuned"
    return Place(
        kind="job",
        owner_id=job_id,
        name="",
        back_url=request.app.url_path_for("job_results", job_id=job_id),
        save_url=page,
        check_url=request.app.url_path_for("job_improve_check", job_id=job_id, item_id=item_id),
        side=side,
        other=(other, f"{page}?side={other}"),
    )


def _job_source(session, job_id: int, item_id: int, side: str) -> Source:
    job = jobs.get_job(session=session, job_id=job_id)
    return sources.job_source(session, job=job, item_id=item_id, side=side)


@router.get("/jobs/{job_id}/predictions/{item_id}/improve", name="job_improve")
def job_improve(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    member: Member,
    job_id: int,
    item_id: int,
    side: Side = "tuned",
    saved: Annotated[str, Query(max_length=12)] = "",
):
    """Write a better response than a job's base or tuned output on an eval item."""
    source = _job_source(session, job_id, item_id, side)
    place = _job_place(request, source, item_id)
    return _page(request, session, member, source, place, saved=_saved_id(saved))


@router.post("/jobs/{job_id}/predictions/{item_id}/improve", name="job_improve_save")
def job_improve_save(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    member: Member,
    job_id: int,
    item_id: int,
    form: Form_,
):
    """Save the better response as a draft pair; then the job's next output, or the pair."""
    side = str(form.get("side") or "tuned")
    source = _job_source(session, job_id, item_id, side)

    def next_url(saved_id: int) -> str | None:
        following = improve.next_job_item(session, job_id=job_id, item_id=item_id)
        if following is None:
            return None
        page = request.app.url_path_for("job_improve", job_id=job_id, item_id=following)
        return f"{page}?side={side}&saved={saved_id}"

    place = _job_place(request, source, item_id)
    return _save(request, session, user, member, source, place, form, next_url)


@router.post("/jobs/{job_id}/predictions/{item_id}/improve/check", name="job_improve_check")
def job_improve_check(
    request: Request, session: DbSession, user: ProjectReviewer, job_id: int, item_id: int,
    form: Form_,
):  # fmt: skip
    """The live constraint checks and counts of the response being written (htmx)."""
    source = _job_source(session, job_id, item_id, str(form.get("side") or "tuned"))
    return _checks(request, source, str(form.get("chosen") or ""))


# ---- A closed round's outputs -----------------------------------------------------------------


def _round_place(request: Request, found, source: Source) -> Place:
    prompt_id = source.round_prompt_id
    page = request.app.url_path_for("round_improve", round_id=found.id, prompt_id=prompt_id)
    side = "a" if source.system == rounds.systems_of(found)[0] else "b"
    other_side = "b" if side == "a" else "a"
    return Place(
        kind="round",
        owner_id=found.id,
        name=found.name,
        back_url=request.app.url_path_for("round_outputs", round_id=found.id),
        save_url=page,
        check_url=request.app.url_path_for(
            "round_improve_check", round_id=found.id, prompt_id=prompt_id
        ),
        side=side,
        other=(other_side, f"{page}?side={other_side}")
        if other_side in sources.model_sides(found)
        else None,
    )


def _round_source(session, user, round_id: int, prompt_id: int, side: str):
    found = rounds.get_round(session, round_id=round_id)
    improve.check_round(session, found=found, user=user)
    side = side or sources.model_sides(found)[0]
    return found, sources.round_source(session, found=found, prompt_id=prompt_id, side=side)


@router.get("/rounds/{round_id}/prompts/{prompt_id}/improve", name="round_improve")
def round_improve(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    member: Member,
    round_id: int,
    prompt_id: int,
    side: Side = "",
    saved: Annotated[str, Query(max_length=12)] = "",
):
    """Write a better response than system A's or B's output on a prompt of a closed round."""
    found, source = _round_source(session, user, round_id, prompt_id, side)
    place = _round_place(request, found, source)
    return _page(request, session, member, source, place, saved=_saved_id(saved))


@router.post("/rounds/{round_id}/prompts/{prompt_id}/improve", name="round_improve_save")
def round_improve_save(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    member: Member,
    round_id: int,
    prompt_id: int,
    form: Form_,
):
    """Save the better response as a draft pair; then the round's next prompt, or the pair."""
    found, source = _round_source(session, user, round_id, prompt_id, str(form.get("side") or ""))
    place = _round_place(request, found, source)

    def next_url(saved_id: int) -> str | None:
        following = improve.next_round_prompt(session, found=found, prompt_id=prompt_id)
        if following is None:
            return None
        page = request.app.url_path_for("round_improve", round_id=found.id, prompt_id=following)
        return f"{page}?side={place.side}&saved={saved_id}"

    return _save(request, session, user, member, source, place, form, next_url)


@router.post("/rounds/{round_id}/prompts/{prompt_id}/improve/check", name="round_improve_check")
def round_improve_check(
    request: Request, session: DbSession, user: ProjectAnnotator, round_id: int, prompt_id: int,
    form: Form_,
):  # fmt: skip
    """The live constraint checks and counts of the response being written (htmx)."""
    _found, source = _round_source(session, user, round_id, prompt_id, str(form.get("side") or ""))
    return _checks(request, source, str(form.get("chosen") or ""))
