"""Pairs pages of a closed round: making pairs from its agreed verdicts (with a live count of
what the rule would make; the pairs are made by a background task, whose page shows its
progress and then what it made) and the list of its outputs to improve."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData

from app.auth.deps import Member, ProjectAnnotator, ProjectManager
from app.db import DbSession
from app.errors import Conflict
from app.evaluation import rounds, systems
from app.evaluation.views import VERDICT_NAMES
from app.i18n import N_
from app.items.forms import form_data
from app.items.lengths import ContentLimits
from app.members import access as members
from app.models import EvalRound
from app.pairs import from_round, improve, views
from app.pairs import task as pairs_task
from app.pairs.from_round import MAX_MIN_JUDGMENTS, RULE_NAMES, PairRule
from app.projects import service as projects
from app.web import form_rejection, redirect, render, wants_fragment

router = APIRouter()
# ASCII digits only (str.isdigit also takes "²", which int() refuses), a few of them.
_DIGITS = re.compile(r"[0-9]{1,6}")
Form_ = Annotated[FormData, Depends(form_data)]


def parse_rule(data: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str], PairRule | None]:
    """The rule form as typed, a message per bad field, and the rule when it is good."""
    values = {
        "rule": str(data.get("rule") or "unanimous").strip(),
        "min_judgments": str(data.get("min_judgments") or "").strip(),
    }
    errors: dict[str, str] = {}
    if values["rule"] not in RULE_NAMES:
        errors["rule"] = N_("Choose one of the options.")
    minimum = None
    if values["min_judgments"]:
        text = values["min_judgments"]
        if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_MIN_JUDGMENTS:
            errors["min_judgments"] = N_("Enter a whole number from 1 to %(max)s.")
        else:
            minimum = int(text)
    if errors:
        return values, errors, None
    return values, errors, PairRule(rule=values["rule"], min_judgments=minimum)


def _context(request: Request, session, found: EvalRound, **extra) -> dict:
    return {
        "found": found,
        "project": projects.get_project(session=session, project_id=found.project_id),
        "rule_names": RULE_NAMES,
        "min_judgments": from_round.form_bounds(found),
        "values": {"rule": "unanimous", "min_judgments": ""},
        "errors": {},
        "error": None,
        "plan": None,
        **extra,
    }


def _plan(session, found: EvalRound, rule: PairRule | None):
    """The plan under ``rule``, or the sentence that refuses the round (and its status)."""
    if rule is None:
        return None, None, 422
    with form_rejection(also=(Conflict,)) as rejected:
        return from_round.plan(session, found=found, data=rule), None, 200
    return None, rejected.error, rejected.status


@router.get("/rounds/{round_id}/pairs", name="round_pairs")
def pairs_page(request: Request, session: DbSession, user: ProjectManager, round_id: int):
    """The form that makes preference pairs of a closed pairwise round's agreed verdicts."""
    found = rounds.get_round(session, round_id=round_id)
    values, errors, rule = parse_rule(request.query_params)
    plan, error, status = _plan(session, found, rule)
    context = _context(request, session, found, values=values, errors=errors)
    context.update(plan=plan, error=error)
    return render(request, "pairs/from_round.html", context, status_code=status)


@router.get("/rounds/{round_id}/pairs/preview", name="round_pairs_preview")
def pairs_preview(request: Request, session: DbSession, user: ProjectManager, round_id: int):
    """The live "N pairs would be made" line of the form (htmx, on every change)."""
    found = rounds.get_round(session, round_id=round_id)
    values, errors, rule = parse_rule(request.query_params)
    plan, error, status = _plan(session, found, rule)
    return render(
        request,
        "pairs/_preview.html",
        {"plan": plan, "error": error, "errors": errors},
        status_code=status,
    )


@router.post("/rounds/{round_id}/pairs", name="round_pairs_make")
def pairs_make(
    request: Request, session: DbSession, user: ProjectManager, round_id: int, form: Form_
):
    """Queue the task that makes the pairs (each agreed prompt once, as a draft of the
    caller's); its page shows the progress, then the counts."""
    found = rounds.get_round(session, round_id=round_id)
    values, errors, rule = parse_rule(form)
    template = "pairs/_from_round.html" if wants_fragment(request) else "pairs/from_round.html"
    context = _context(request, session, found, values=values, errors=errors)
    if rule is None:
        return render(request, template, context, status_code=422)
    limits = ContentLimits.of(request.app.state.settings)
    with form_rejection(also=(Conflict,)) as rejected:
        task = pairs_task.start(session=session, found=found, data=rule, actor=user, limits=limits)
    if rejected:
        context["error"] = rejected.error
        return render(request, template, context, status_code=rejected.status)
    return redirect(request, request.app.url_path_for("task", task_id=task.id))


def _page_number(text: str) -> int:
    return int(text) if _DIGITS.fullmatch(text) else 1


@router.get("/rounds/{round_id}/outputs", name="round_outputs")
def round_outputs(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    member: Member,
    round_id: int,
    page: Annotated[str, Query(max_length=8)] = "1",
):
    """A closed round's prompts with both outputs, to improve them one by one."""
    found = rounds.get_round(session, round_id=round_id)
    improve.check_round(session, found=found, user=user)
    project = projects.get_project(session=session, project_id=found.project_id)
    drafts_of = members.drafts_of(found=member, drafts_shared=project.drafts_shared)
    listing = views.round_outputs(
        session, found=found, page=_page_number(page), drafts_of=drafts_of
    )
    a, b = rounds.systems_of(found)
    return render(
        request,
        "pairs/outputs.html",
        {
            "found": found,
            "project": project,
            "listing": listing,
            "systems": (a, b),
            "side_names": systems.SIDE_NAMES,
            "verdict_names": VERDICT_NAMES,
        },
    )
