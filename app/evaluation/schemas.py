"""JSON shapes of human evaluation: rounds, the blind next prompt, judgments in the screen's
terms (for the judge) and in the systems' terms (for whoever sees results); results and the
leaderboard are in ``result_schemas``. Shared by the API and the `studio rounds` command.

Blindness is a matter of shape: what a judge receives (``NextOut``, ``ScreenJudgmentOut``)
has no field that could name a system, a job or the side an output came from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import MAX_INTEGER
from app.evaluation import judging, rounds
from app.evaluation.rounds import RoundInput
from app.evaluation.systems import System
from app.models import EvalJudgment, EvalRound, EvalRoundPrompt, User


class RoundIn(RoundInput):
    """A new round; judges are named by user id when ``judges`` is ``named``."""

    judge_ids: list[Annotated[int, Field(ge=1, le=MAX_INTEGER)]] = Field(
        default_factory=list, max_length=500, description="The named judges' user ids."
    )


class CloseIn(BaseModel):
    version: int | None = Field(
        None, ge=1, le=MAX_INTEGER, description="The round's version; a stale one answers 409."
    )


class PromptCountOut(BaseModel):
    prompts: int = Field(description="How many prompts the round would have.")


class SystemOut(BaseModel):
    key: str = Field(description="`reference`, or a job and a side such as `12:tuned`.")
    job_id: int | None = Field(description="The job whose outputs these are; null for reference.")
    side: Literal["base", "tuned", "reference"]

    @classmethod
    def of(cls, system: System) -> SystemOut:
        return cls(key=system.key, job_id=system.job_id, side=system.side)


class RoundOut(BaseModel):
    id: int
    project_id: int
    name: str = Field(description="`Round <id>` while the systems are hidden from the caller.")
    mode: Literal["pairwise", "rating"]
    status: Literal["open", "closed"]
    overlap: int = Field(description="Judgments wanted per prompt.")
    judges: Literal["reviewers", "named"] = Field(
        description="Who may judge: every reviewer of the project, or the named people."
    )
    judge_ids: list[int] = Field(description="The named judges (empty for `reviewers`).")
    prompt_filter: dict[str, Any] = Field(description="Kind, language, domain and sample size.")
    prompts: int
    judgments: int
    progress: float = Field(description="Share of the wanted judgments made, 0 to 1.")
    created_at: datetime
    closed_at: datetime | None
    version: int = Field(description="Pass it back when closing; a stale one answers 409.")
    sees_results: bool = Field(description="Whether the caller may see results and systems.")
    a: SystemOut | None = Field(description="System A; null while hidden from the caller.")
    b: SystemOut | None = Field(description="System B; null while hidden from the caller.")
    seed: int | None = Field(
        description="Seeds each judge's order and sides; null while hidden from the caller."
    )


class JudgeCountOut(BaseModel):
    judge_id: int
    email: str
    judgments: int


class RoundDetailOut(RoundOut):
    wanted: int = Field(description="Prompts × overlap.")
    judged: int = Field(description="Judgments counted towards the wanted ones.")
    may_judge: bool = Field(description="Whether the caller is a judge of this round.")
    mine: int | None = Field(description="The caller's own judgments; null for a non-judge.")
    per_judge: list[JudgeCountOut] | None = Field(
        description="Judgments per judge; null unless the caller sees results."
    )


class MessageOut(BaseModel):
    role: str
    content: str


class MyProgressOut(BaseModel):
    judged: int = Field(description="Prompts the caller has judged in this round.")
    prompts: int = Field(description="Prompts in the round.")


class NextOut(BaseModel):
    """The caller's next prompt, blind: the outputs in the order shown to this judge."""

    round_id: int
    prompt_id: int = Field(description="Send it back with the judgment.")
    position: int = Field(description="The prompt's number in the round.")
    mode: Literal["pairwise", "rating"]
    kind: str
    language: str
    messages: list[MessageOut] = Field(description="The prompt as the model saw it.")
    first: str = Field(description="The output shown first (on the left).")
    second: str = Field(description="The output shown second (on the right).")
    constraints: list[Any] = Field(description="The item's constraints (shown on request).")
    progress: MyProgressOut

    @classmethod
    def of(cls, found: EvalRound, prompt: EvalRoundPrompt, seat: judging.Seat) -> NextOut:
        first, second = prompt.output_a, prompt.output_b
        if seat.walk.swapped[prompt.id]:
            first, second = second, first
        return cls(
            round_id=found.id,
            prompt_id=prompt.id,
            position=prompt.position,
            mode=found.mode,
            kind=prompt.kind,
            language=prompt.language,
            messages=prompt.messages,
            first=first,
            second=second,
            constraints=prompt.constraints or [],
            progress=MyProgressOut(judged=len(seat.mine), prompts=len(seat.walk.order)),
        )


class ScreenJudgmentOut(BaseModel):
    """A judgment as its judge made it: the first and second output on their screen."""

    id: int
    prompt_id: int
    position: int
    choice: Literal["first", "second", "tie", "both_bad"] | None = Field(
        description="Pairwise rounds: the better output; null in rating rounds."
    )
    rating_first: int | None
    rating_second: int | None
    correct_first: bool | None
    correct_second: bool | None
    reasons: list[str]
    comment: str
    version: int = Field(description="Pass it back to change the judgment.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, j: EvalJudgment, prompt: EvalRoundPrompt, mode: str) -> ScreenJudgmentOut:
        def screen(a: Any, b: Any) -> tuple[Any, Any]:
            return (b, a) if j.swapped else (a, b)

        choice = None
        if mode == "pairwise":
            choice = j.verdict
            if j.verdict in ("a", "b"):
                choice = "first" if (j.verdict == "a") != j.swapped else "second"
        rating_first, rating_second = screen(j.rating_a, j.rating_b)
        correct_first, correct_second = screen(j.correct_a, j.correct_b)
        return cls(
            id=j.id,
            prompt_id=j.prompt_id,
            position=prompt.position,
            choice=choice,
            rating_first=rating_first,
            rating_second=rating_second,
            correct_first=correct_first,
            correct_second=correct_second,
            reasons=list(j.reasons or []),
            comment=j.comment,
            version=j.version,
            created_at=j.created_at,
            updated_at=j.updated_at,
        )


class SystemJudgmentOut(BaseModel):
    """A judgment in the systems' terms, for whoever sees results."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    prompt_id: int
    position: int
    kind: str
    language: str
    domain: str | None
    judge_id: int
    judge: str = Field(description="The judge's email.")
    verdict: Literal["a", "b", "tie", "both_bad"] = Field(description="a: system A's is better.")
    rating_a: int | None
    rating_b: int | None
    correct_a: bool | None
    correct_b: bool | None
    reasons: list[str]
    comment: str
    swapped: bool = Field(description="System A's output was shown second.")
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, j: EvalJudgment, prompt: EvalRoundPrompt, email: str) -> SystemJudgmentOut:
        return cls(
            id=j.id,
            prompt_id=j.prompt_id,
            position=prompt.position,
            kind=prompt.kind,
            language=prompt.language,
            domain=prompt.domain,
            judge_id=j.judge_id,
            judge=email,
            verdict=j.verdict,
            rating_a=j.rating_a,
            rating_b=j.rating_b,
            correct_a=j.correct_a,
            correct_b=j.correct_b,
            reasons=list(j.reasons or []),
            comment=j.comment,
            swapped=j.swapped,
            created_at=j.created_at,
            updated_at=j.updated_at,
            version=j.version,
        )


class JudgmentsOut(BaseModel):
    mine: list[ScreenJudgmentOut] = Field(description="The caller's own, in screen terms.")
    all: list[SystemJudgmentOut] | None = Field(
        description="Every judgment in the systems' terms; null unless the caller sees results."
    )


def round_out(
    session: Session,
    found: EvalRound,
    *,
    sees: bool,
    viewer: User | None = None,
    detail: bool = False,
) -> RoundOut:
    """A round as ``viewer`` may see it (``sees``: its results and systems); with ``detail``,
    its progress in full. The CLI's operator is no viewer, and sees everything."""
    progress = judging.progress(session, found=found)
    a, b = rounds.systems_of(found)
    fields = {
        "id": found.id,
        "project_id": found.project_id,
        # A manager may have named the systems in the round's name.
        "name": found.name if sees else f"Round {found.id}",
        "mode": found.mode,
        "status": found.status,
        "overlap": found.overlap,
        "judges": found.judges,
        "judge_ids": sorted(rounds.named_judges(session, found.id)),
        "prompt_filter": found.prompt_filter or {},
        "prompts": progress.prompts,
        "judgments": sum(progress.per_judge.values()),
        "progress": progress.share,
        "created_at": found.created_at,
        "closed_at": found.closed_at,
        "version": found.version,
        "sees_results": sees,
        "a": SystemOut.of(a) if sees else None,
        "b": SystemOut.of(b) if sees else None,
        "seed": found.seed if sees else None,
    }
    if not detail:
        return RoundOut(**fields)
    judge = viewer is not None and rounds.may_judge(session, found=found, user=viewer)
    return RoundDetailOut(
        **fields,
        wanted=progress.wanted,
        judged=progress.judged,
        may_judge=judge,
        mine=progress.per_judge.get(viewer.id, 0) if judge else None,
        per_judge=_per_judge(session, progress.per_judge) if sees else None,
    )


def judgments_out(session: Session, found: EvalRound, *, viewer: User, sees: bool) -> JudgmentsOut:
    """The viewer's own judgments in screen terms; with ``sees``, everyone's in the systems'."""
    rows = session.execute(
        select(EvalJudgment, EvalRoundPrompt, User.email)
        .join(EvalRoundPrompt, EvalRoundPrompt.id == EvalJudgment.prompt_id)
        .join(User, User.id == EvalJudgment.judge_id)
        .where(EvalJudgment.round_id == found.id)
        .order_by(EvalRoundPrompt.position, EvalJudgment.id)
    )
    mine, every = [], []
    for judgment, prompt, email in rows:
        if judgment.judge_id == viewer.id:
            mine.append(ScreenJudgmentOut.of(judgment, prompt, found.mode))
        if sees:
            every.append(SystemJudgmentOut.of(judgment, prompt, email))
    return JudgmentsOut(mine=mine, all=every if sees else None)


def _per_judge(session: Session, counts: dict[int, int]) -> list[JudgeCountOut]:
    emails = dict(
        session.execute(select(User.id, User.email).where(User.id.in_(list(counts)))).all()
    )
    return sorted(
        (
            JudgeCountOut(judge_id=i, email=emails.get(i, ""), judgments=n)
            for i, n in counts.items()
        ),
        key=lambda c: (-c.judgments, c.email),
    )
