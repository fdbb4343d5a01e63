"""JSON API for human evaluation: rounds, the blind next prompt and judging, results, the CSV
of judgments and the project's leaderboard, with the pages' rules.

A judge's answers are in their screen's terms (first and second output) and never name a
system; systems, everyone's judgments and results go only to whoever ``sees_results``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from app.apidoc import ERRORS, PathId
from app.auth.deps import Member, ProjectAnnotator, ProjectManager, ProjectReviewer
from app.db import DbSession
from app.errors import Forbidden
from app.evaluation import export, judging, leaderboard, results, rounds
from app.evaluation.judging import JudgmentInput
from app.evaluation.result_schemas import LeaderboardOut, ResultsOut
from app.evaluation.schemas import (
    CloseIn,
    JudgmentsOut,
    NextOut,
    PromptCountOut,
    RoundDetailOut,
    RoundIn,
    RoundOut,
    ScreenJudgmentOut,
    judgments_out,
    round_out,
)
from app.i18n import N_
from app.models import EvalRound, EvalRoundPrompt, ProjectRole, User
from app.projects import service as projects

router = APIRouter(prefix="/api/v1", tags=["evaluation"], responses=ERRORS)

HIDDEN = N_("The results of this round are hidden from you until it closes.")


def _round(session: DbSession, round_id: int) -> EvalRound:
    return rounds.get_round(session, round_id=round_id)


def _sees(session: DbSession, found: EvalRound, user: User) -> bool:
    return rounds.sees_results(session, found=found, user=user)


def _check_sees(session: DbSession, found: EvalRound, user: User) -> None:
    if not _sees(session, found, user):
        raise Forbidden(HIDDEN)


@router.get("/projects/{project_id}/rounds", response_model=list[RoundOut], name="api_eval_rounds")
def list_rounds(project_id: PathId, session: DbSession, user: ProjectAnnotator, member: Member):
    """The project's evaluation rounds, newest first: all of them for its reviewers, the
    rounds that name the caller for an annotator. Systems only where the caller sees results."""
    found = [
        r
        for r in rounds.list_rounds(session, project_id=project_id)
        if member.at_least(ProjectRole.reviewer) or rounds.may_judge(session, found=r, user=user)
    ]
    return [round_out(session, r, sees=_sees(session, r, user)) for r in found]


@router.post(
    "/projects/{project_id}/rounds",
    response_model=RoundOut,
    status_code=201,
    name="api_eval_round_create",
    responses={200: {"model": PromptCountOut, "description": "With `dry_run`: the count."}},
)
def create_round(
    project_id: PathId,
    body: RoundIn,
    session: DbSession,
    user: ProjectManager,
    dry_run: Annotated[
        bool, Query(description="Only say how many prompts the round would have.")
    ] = False,
):
    """Create a round over the prompts both systems have outputs for."""
    project = projects.get_project(session=session, project_id=project_id)
    if dry_run:
        count = rounds.count_prompts(session, project=project, data=body)
        body_out = PromptCountOut(prompts=count).model_dump_json()
        return Response(body_out, status_code=200, media_type="application/json")
    created = rounds.create_round(session, project=project, data=body, actor=user)
    return round_out(session, created, sees=_sees(session, created, user))


@router.get("/rounds/{round_id}", response_model=RoundDetailOut, name="api_eval_round")
def get_round(round_id: PathId, session: DbSession, user: ProjectAnnotator, member: Member):
    """One round and its progress: per judge for whoever sees results, else the caller's own."""
    found = _round(session, round_id)
    rounds.check_open(session, found=found, user=user, member=member)
    return round_out(session, found, sees=_sees(session, found, user), viewer=user, detail=True)


@router.get("/rounds/{round_id}/next", response_model=NextOut | None, name="api_eval_next")
def next_prompt(round_id: PathId, session: DbSession, user: ProjectAnnotator):
    """The caller's next prompt to judge, blind (null when none is left for them)."""
    found = _round(session, round_id)
    judging.check_judge(session, found=found, judge=user)
    seat = judging.seat_of(session, found=found, judge=user)
    if seat.next_id is None:
        return None
    prompt = judging.prompt_for(session, found=found, seat=seat, prompt_id=seat.next_id)
    return NextOut.of(found, prompt, seat)


@router.post(
    "/rounds/{round_id}/judgments",
    response_model=ScreenJudgmentOut,
    status_code=201,
    name="api_eval_judge",
    responses={200: {"model": ScreenJudgmentOut, "description": "An earlier judgment changed."}},
)
def judge(
    round_id: PathId,
    body: JudgmentInput,
    response: Response,
    session: DbSession,
    user: ProjectAnnotator,
):
    """Save the caller's judgment of a prompt, in screen terms (201; 200 when it changed one
    made before). A stale version or a closed round answers 409."""
    found = _round(session, round_id)
    before = judging.judgments_of(session, found=found, judge=user)
    saved = judging.submit(session, found=found, judge=user, data=body)
    if body.prompt_id in before:
        response.status_code = 200
    prompt = session.get_one(EvalRoundPrompt, saved.prompt_id)
    return ScreenJudgmentOut.of(saved, prompt, found.mode)


@router.get("/rounds/{round_id}/judgments", response_model=JudgmentsOut, name="api_eval_judgments")
def list_judgments(round_id: PathId, session: DbSession, user: ProjectAnnotator):
    """The caller's own judgments in screen terms, and every judgment in the systems' terms
    when the caller sees results."""
    found = _round(session, round_id)
    sees = _sees(session, found, user)
    if not sees:
        judging.check_judge(session, found=found, judge=user)
    return judgments_out(session, found, viewer=user, sees=sees)


@router.get(
    "/rounds/{round_id}/judgments.csv",
    name="api_eval_judgments_csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "One line per judgment."}},
)
def judgments_csv(request: Request, round_id: PathId, session: DbSession, user: ProjectAnnotator):
    """Every judgment in the systems' terms as CSV, streamed; for whoever sees results."""
    found = _round(session, round_id)
    _check_sees(session, found, user)
    return StreamingResponse(
        export.stream_csv(request.app.state.open_session, found.id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.file_name(found)}"'},
    )


@router.get("/rounds/{round_id}/results", response_model=ResultsOut, name="api_eval_results")
def round_results(round_id: PathId, session: DbSession, user: ProjectAnnotator):
    """Wins, ties and losses of system A with intervals and sign tests, overall and by kind,
    language and domain; judge agreement; the most divided prompts. Live for the managers
    not judging the round, for everyone who may see it once it closes."""
    found = _round(session, round_id)
    _check_sees(session, found, user)
    return ResultsOut.of(found, results.round_results(session, found=found))


@router.post("/rounds/{round_id}/close", response_model=RoundOut, name="api_eval_round_close")
def close_round(round_id: PathId, body: CloseIn, session: DbSession, user: ProjectManager):
    """Close the round: judging stops and the systems are named (409 when stale or closed)."""
    found = _round(session, round_id)
    closed = rounds.close_round(session, found=found, actor=user, expected_version=body.version)
    return round_out(session, closed, sees=_sees(session, closed, user))


@router.get(
    "/projects/{project_id}/leaderboard",
    response_model=LeaderboardOut,
    name="api_eval_leaderboard",
)
def project_leaderboard(project_id: PathId, session: DbSession, user: ProjectReviewer):
    """Every system of the project's closed pairwise rounds, ranked by Bradley–Terry strength
    with bootstrap 95% intervals."""
    projects.get_project(session=session, project_id=project_id)
    return LeaderboardOut.of(leaderboard.leaderboard(session, project_id=project_id))
