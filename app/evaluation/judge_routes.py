"""The judging screen: one prompt of a round, the two outputs in this judge's order, and keys
to decide (``1``–``4`` in pairwise rounds, ``1``–``5`` twice in rating rounds).

The page is blind: it shows the outputs as "Output 1" and "Output 2" only, never the systems,
jobs or sides behind them, and nothing about other judges' answers. Judgments are posted in
screen terms (first, second) and the service turns them into the systems' terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError

from app.auth.deps import ProjectAnnotator
from app.core import constraints
from app.db import DbSession
from app.errors import Conflict
from app.evaluation import judging, rounds
from app.evaluation.judging import REASONS, JudgmentInput, Seat
from app.i18n import N_
from app.models import EvalJudgment, EvalRound, EvalRoundPrompt
from app.projects import service as projects
from app.web import form_rejection, redirect, render

router = APIRouter()


@dataclass(frozen=True)
class Mark:
    """One constraint checked on one output, for the hidden-by-default verdict list."""

    label: dict[str, str]
    passed: bool
    message: Any
    args: dict[str, Any]


@dataclass(frozen=True)
class Shown:
    """An output as this judge sees it: its text and its constraint marks (None when the
    prompt's constraints can no longer be checked)."""

    text: str
    marks: list[Mark] | None


def _marks(refs: list[Any], text: str) -> list[Mark] | None:
    if not refs:
        return []
    try:
        checked = constraints.check_all(refs, text)
    except (constraints.UnknownConstraintError, constraints.ConstraintParamsError):
        return None  # pinned under an older registry: nothing trustworthy to show
    return [
        Mark(dict(constraints.get_spec(ref["id"]).label), v.passed, v.message, v.args)
        for ref, v in checked
    ]


def _outputs(prompt: EvalRoundPrompt, swapped: bool) -> list[Shown]:
    texts = [prompt.output_b, prompt.output_a] if swapped else [prompt.output_a, prompt.output_b]
    return [Shown(text, _marks(prompt.constraints or [], text)) for text in texts]


def _screen_terms(judgment: EvalJudgment | None, swapped: bool) -> dict[str, Any]:
    """A stored judgment (systems' terms) as the form's values (the screen's terms)."""
    if judgment is None:
        return {}
    first, second = ("b", "a") if swapped else ("a", "b")
    verdict = judgment.verdict
    rating = {"a": judgment.rating_a, "b": judgment.rating_b}
    correct = {"a": judgment.correct_a, "b": judgment.correct_b}
    return {
        "choice": {first: "first", second: "second"}.get(verdict, verdict),
        "rating_first": rating[first],
        "rating_second": rating[second],
        "correct_first": bool(correct[first]),
        "correct_second": bool(correct[second]),
        "reasons": list(judgment.reasons or []),
        "comment": judgment.comment or "",
    }


def _judge_url(request: Request, found: EvalRound, prompt_id: int | None = None) -> str:
    url = str(request.app.url_path_for("round_judge", round_id=found.id))
    return f"{url}?prompt={prompt_id}" if prompt_id is not None else url


def _page(
    request: Request,
    session,
    found: EvalRound,
    seat: Seat,
    prompt: EvalRoundPrompt | None,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
):
    progress = judging.progress(session, found=found)
    context: dict[str, Any] = {
        "found": found,
        "project": projects.get_project(session=session, project_id=found.project_id),
        "prompt": prompt,
        "round_href": str(request.app.url_path_for("round", round_id=found.id)),
        "mine_count": len(seat.mine),
        "reachable": seat.reachable,
        "progress": progress,
        "reasons": REASONS,
        "errors": errors or {},
    }
    sequence = seat.sequence
    if prompt is None:
        context["prev_href"] = _judge_url(request, found, sequence[-1]) if sequence else None
        return render(request, "evaluation/judge.html", context, status_code=status)
    swapped = seat.walk.swapped[prompt.id]
    mine = seat.mine.get(prompt.id)
    at = sequence.index(prompt.id)
    context.update(
        outputs=_outputs(prompt, swapped),
        mine=mine,
        form=form if form is not None else _screen_terms(mine, swapped),
        prev_href=_judge_url(request, found, sequence[at - 1]) if at > 0 else None,
        next_href=(
            _judge_url(request, found, sequence[at + 1]) if at + 1 < len(sequence) else None
        ),
    )
    return render(request, "evaluation/judge.html", context, status_code=status)


@router.get("/rounds/{round_id}/judge", name="round_judge")
def judge_page(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    round_id: int,
    prompt: int | None = None,
):
    """This judge's next prompt, or (``?prompt=``) one they judged, to look at or change."""
    found = rounds.get_round(session, round_id=round_id)
    judging.check_judge(session, found=found, judge=user)
    seat = judging.seat_of(session, found=found, judge=user)
    wanted = prompt if prompt is not None else seat.next_id
    shown = (
        None
        if wanted is None
        else judging.prompt_for(session, found=found, seat=seat, prompt_id=wanted)
    )
    return _page(request, session, found, seat, shown)


def _field_errors(error: ValidationError, mode: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        if field in ("", "choice", "rating_first", "rating_second"):
            if mode == "rating":
                errors["rating"] = N_("Rate both outputs.")
            else:
                errors["choice"] = N_("Choose which output is better.")
        else:
            errors[field] = N_("Too long.") if field == "comment" else N_("Choose a value.")
    return errors


@router.post("/rounds/{round_id}/judge", name="round_judge_submit")
def judge_submit(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    round_id: int,
    prompt_id: Annotated[int, Form()],
    choice: Annotated[str, Form(max_length=16)] = "",
    rating_first: Annotated[str, Form(max_length=4)] = "",
    rating_second: Annotated[str, Form(max_length=4)] = "",
    correct_first: Annotated[str, Form(max_length=8)] = "",
    correct_second: Annotated[str, Form(max_length=8)] = "",
    reasons: Annotated[list[str] | None, Form()] = None,
    comment: Annotated[str, Form(max_length=4000)] = "",
    version: Annotated[str, Form(max_length=12)] = "",
):
    """Save this judge's answer on a prompt, then go on: to their next prompt, or, when they
    changed an earlier answer, to the prompt after it in their sequence."""
    found = rounds.get_round(session, round_id=round_id)
    judging.check_judge(session, found=found, judge=user)
    seat = judging.seat_of(session, found=found, judge=user)
    form = {
        "choice": choice,
        "rating_first": rating_first,
        "rating_second": rating_second,
        "correct_first": bool(correct_first),
        "correct_second": bool(correct_second),
        "reasons": reasons or [],
        "comment": comment,
    }
    try:
        data = JudgmentInput(
            prompt_id=prompt_id,
            choice=choice or None,
            rating_first=rating_first or None,
            rating_second=rating_second or None,
            correct_first=True if correct_first else None,
            correct_second=True if correct_second else None,
            reasons=reasons or [],
            comment=comment,
            version=version or None,
        )
    except ValidationError as error:
        prompt = judging.prompt_for(session, found=found, seat=seat, prompt_id=prompt_id)
        errors = _field_errors(error, found.mode)
        return _page(request, session, found, seat, prompt, form=form, errors=errors, status=422)
    with form_rejection(status=422, also=(Conflict,)) as rejected:
        judging.submit(session=session, found=found, judge=user, data=data)
    if rejected:
        # A closed round hands out no next prompt: the refusal is shown on the done page.
        shown = session.get(EvalRoundPrompt, prompt_id) if prompt_id in seat.sequence else None
        errors = {"form": rejected.error.message, **rejected.errors}
        return _page(
            request, session, found, seat, shown, form=form, errors=errors, status=rejected.status
        )
    return redirect(
        request,
        _after(request, found, seat, prompt_id),
        toast=("success", N_("Judgment saved.")),
    )


def _after(request: Request, found: EvalRound, seat: Seat, prompt_id: int) -> str:
    """Where to go once a prompt is judged (``seat`` is from before the judgment)."""
    if prompt_id not in seat.mine:
        return _judge_url(request, found)  # a new judgment: the next prompt, fresh
    sequence = seat.sequence
    at = sequence.index(prompt_id) + 1
    if at >= len(sequence) or sequence[at] == seat.next_id:
        # Their next prompt may have gone to other judges meanwhile: ask afresh.
        return _judge_url(request, found)
    return _judge_url(request, found, sequence[at])
