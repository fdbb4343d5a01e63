"""JSON API for preference pairs made from judgments (a closed pairwise round's agreed
verdicts) and from model outputs (a person's better response), with the pages' rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.apidoc import ERRORS, PathId
from app.auth.deps import ProjectAnnotator, ProjectManager, ProjectReviewer
from app.background.schemas import TaskOut
from app.db import DbSession
from app.evaluation import rounds
from app.items.lengths import ContentLimits
from app.items.schemas import ItemOut
from app.jobs import service as jobs
from app.pairs import from_round, improve, sources
from app.pairs import task as pairs_task
from app.pairs.from_round import MAX_MIN_JUDGMENTS, PairRule, Rule
from app.pairs.schemas import JobImproveIn, PairsIn, PairsPreviewOut, RoundImproveIn

router = APIRouter(prefix="/api/v1", tags=["pairs"], responses=ERRORS)


@router.get("/rounds/{round_id}/pairs", response_model=PairsPreviewOut, name="api_round_pairs")
def preview_pairs(
    round_id: PathId,
    session: DbSession,
    user: ProjectManager,
    rule: Annotated[Rule, Query(description="`unanimous` or `majority`.")] = "unanimous",
    min_judgments: Annotated[
        int | None,
        Query(ge=1, le=MAX_MIN_JUDGMENTS, description="The fewest judgments a prompt needs."),
    ] = None,
):
    """How many pairs making them from this closed pairwise round would make, and why the
    other prompts would not (409 for an open or a rating round)."""
    found = rounds.get_round(session, round_id=round_id)
    plan = from_round.plan(
        session, found=found, data=PairRule(rule=rule, min_judgments=min_judgments)
    )
    return PairsPreviewOut.of(plan)


@router.post(
    "/rounds/{round_id}/pairs",
    response_model=TaskOut,
    status_code=202,
    name="api_round_pairs_make",
)
def make_pairs(
    request: Request, round_id: PathId, body: PairsIn, session: DbSession, user: ProjectManager
) -> TaskOut:
    """Queue the making of a draft preference pair of every prompt whose judges agreed on a
    winner (202, the background task `pairs.from_round`): its output chosen, the other
    rejected. Poll `GET /api/v1/tasks/{id}` for its progress (done of total agreed prompts);
    once done, its result holds the counts of `PairsOut` (`pairs` made, `no_winner`,
    `identical`, `already`, `unusable`) and `item_ids`, the first 100 new pairs' ids.
    Prompts that already have a pair from this round are skipped, so asking twice makes each
    pair once (409 for an open or a rating round, checked when queueing)."""
    found = rounds.get_round(session, round_id=round_id)
    task = pairs_task.start(
        session=session,
        found=found,
        data=body,
        actor=user,
        limits=ContentLimits.of(request.app.state.settings),
    )
    return TaskOut.model_validate(task)


@router.post(
    "/jobs/{job_id}/predictions/{item_id}/improve",
    response_model=ItemOut,
    status_code=201,
    name="api_job_improve",
)
def improve_job_output(
    request: Request,
    job_id: PathId,
    item_id: PathId,
    body: JobImproveIn,
    session: DbSession,
    user: ProjectReviewer,
):
    """Improve a job's base or tuned output on an eval item: a draft pair with your response
    chosen and the model's rejected (for the project's reviewers, who see job results)."""
    job = jobs.get_job(session=session, job_id=job_id)
    source = sources.job_source(session, job=job, item_id=item_id, side=body.side)
    return improve.improve(
        session,
        source=source,
        chosen=body.chosen,
        actor=user,
        limits=ContentLimits.of(request.app.state.settings),
    )


@router.post(
    "/rounds/{round_id}/prompts/{prompt_id}/improve",
    response_model=ItemOut,
    status_code=201,
    name="api_round_improve",
)
def improve_round_output(
    request: Request,
    round_id: PathId,
    prompt_id: PathId,
    body: RoundImproveIn,
    session: DbSession,
    user: ProjectAnnotator,
):
    """Improve system A's or B's output on a prompt of a closed round: a draft pair with your
    response chosen and the model's rejected (for whoever sees the round's results; 409 while
    the round is open)."""
    found = rounds.get_round(session, round_id=round_id)
    improve.check_round(session, found=found, user=user)
    source = sources.round_source(session, found=found, prompt_id=prompt_id, side=body.side)
    return improve.improve(
        session,
        source=source,
        chosen=body.chosen,
        actor=user,
        limits=ContentLimits.of(request.app.state.settings),
    )
