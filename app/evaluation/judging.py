"""Judging a round: each judge's prompt order and screen sides, and saving judgments.

Order and sides are derived from the round's seed and the judge, so they are the same on
every visit and reproducible after the fact. Each judge walks the prompts in a permutation of
their own (so judges do not all start on the same prompts), and system A is shown on the
right for every other prompt of that walk, starting on the side the judge's seed picks: over
the whole round each judge sees A on the left for half of the prompts, give or take one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.display import JUDGE_REASONS
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.evaluation import rounds
from app.i18n import N_
from app.models import EvalJudgment, EvalRound, EvalRoundPrompt, User

REASONS = JUDGE_REASONS
Choice = Literal["first", "second", "tie", "both_bad"]


class JudgmentInput(BaseModel):
    """A judgment in the screen's terms: the first (left) and second (right) output."""

    prompt_id: int = Field(ge=1)
    choice: Choice | None = Field(None, description="Pairwise rounds: which output is better.")
    rating_first: int | None = Field(None, ge=1, le=5, description="Rating rounds: 1–5.")
    rating_second: int | None = Field(None, ge=1, le=5)
    correct_first: bool | None = None
    correct_second: bool | None = None
    reasons: list[Literal[tuple(REASONS)]] = Field(default_factory=list, max_length=6)  # type: ignore[valid-type]
    comment: str = Field("", max_length=2000)
    version: int | None = Field(
        None, description="The version of the judgment being changed; a stale one answers 409."
    )

    @model_validator(mode="after")
    def _one_mode(self) -> JudgmentInput:
        if self.choice is None and (self.rating_first is None or self.rating_second is None):
            raise ValueError("give a choice, or a rating for each output")
        return self


def _digest(*parts: object) -> int:
    text = ":".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


@dataclass(frozen=True)
class Walk:
    """One judge's order over a round's prompts, and where system A is shown."""

    order: list[int]  # prompt ids
    swapped: dict[int, bool]  # prompt id → system A shown second (on the right)


def walk_for(found: EvalRound, prompt_ids: list[int], judge_id: int) -> Walk:
    order = sorted(prompt_ids, key=lambda p: (_digest(found.seed, judge_id, p), p))
    start = _digest(found.seed, judge_id, "side") % 2
    return Walk(order, {p: (start + i) % 2 == 1 for i, p in enumerate(order)})


def _prompt_ids(session: Session, round_id: int) -> list[int]:
    return list(
        session.scalars(select(EvalRoundPrompt.id).where(EvalRoundPrompt.round_id == round_id))
    )


def judgments_of(session: Session, *, found: EvalRound, judge: User) -> dict[int, EvalJudgment]:
    """This judge's judgments in the round, by prompt id."""
    return {
        j.prompt_id: j
        for j in session.scalars(
            select(EvalJudgment).where(
                EvalJudgment.round_id == found.id, EvalJudgment.judge_id == judge.id
            )
        )
    }


def _counts(session: Session, round_id: int) -> dict[int, int]:
    return dict(
        session.execute(
            select(EvalJudgment.prompt_id, func.count())
            .where(EvalJudgment.round_id == round_id)
            .group_by(EvalJudgment.prompt_id)
        ).all()
    )


@dataclass(frozen=True)
class Seat:
    """Where a judge stands: their walk, what they judged, and the next prompt for them."""

    walk: Walk
    mine: dict[int, EvalJudgment]
    next_id: int | None
    # What this judge has judged or can still be handed: prompts short of the overlap.
    reachable: int

    @property
    def sequence(self) -> list[int]:
        """The prompts this judge may open: those judged, in walk order, then the next."""
        seen = [p for p in self.walk.order if p in self.mine]
        return [*seen, self.next_id] if self.next_id is not None else seen


def seat_of(session: Session, *, found: EvalRound, judge: User) -> Seat:
    walk = walk_for(found, _prompt_ids(session, found.id), judge.id)
    mine = judgments_of(session, found=found, judge=judge)
    open_to_me: list[int] = []
    if found.status == "open":
        counts = _counts(session, found.id)
        open_to_me = [p for p in walk.order if p not in mine and counts.get(p, 0) < found.overlap]
    next_id = open_to_me[0] if open_to_me else None
    return Seat(walk, mine, next_id, len(mine) + len(open_to_me))


def check_judge(session: Session, *, found: EvalRound, judge: User) -> None:
    if not rounds.may_judge(session, found=found, user=judge):
        raise Forbidden(N_("You are not a judge of this round."))


def prompt_for(
    session: Session, *, found: EvalRound, seat: Seat, prompt_id: int
) -> EvalRoundPrompt:
    """A prompt this judge may open: one they judged, or the one that is theirs next."""
    if prompt_id not in seat.sequence:
        raise NotFound(N_("This prompt is not yours to judge in this round."))
    return session.get_one(EvalRoundPrompt, prompt_id)


def _filled_meanwhile(session: Session, found: EvalRound, seat: Seat, prompt_id: int) -> bool:
    """Whether the prompt, not yet this judge's, reached the round's overlap: other judges
    held it too and answered first. The judgment is taken all the same (one more than the
    overlap), so that an answer made is never lost."""
    if prompt_id not in seat.walk.swapped or prompt_id in seat.mine:
        return False
    return _counts(session, found.id).get(prompt_id, 0) >= found.overlap


def _verdict(data: JudgmentInput, swapped: bool, mode: str) -> tuple[str, int | None, int | None]:
    if mode == "rating":
        if data.rating_first is None or data.rating_second is None:
            raise InvalidInput(
                N_("Rate each output from 1 to 5."), errors={"rating": N_("Rate both outputs.")}
            )
        first, second = data.rating_first, data.rating_second
        a, b = (second, first) if swapped else (first, second)
        return ("a" if a > b else "b" if b > a else "tie"), a, b
    if data.choice is None:
        raise InvalidInput(N_("Choose which output is better."), errors={"choice": N_("Choose.")})
    if data.choice in ("tie", "both_bad"):
        return data.choice, None, None
    first_is_a = not swapped
    picked_a = (data.choice == "first") == first_is_a
    return ("a" if picked_a else "b"), None, None


def submit(session: Session, *, found: EvalRound, judge: User, data: JudgmentInput) -> EvalJudgment:
    """Save (or change) this judge's judgment of a prompt; the round must be open."""
    check_judge(session, found=found, judge=judge)
    if found.status != "open":
        raise Conflict(N_("This round is closed; judgments can no longer change."))
    seat = seat_of(session, found=found, judge=judge)
    if not _filled_meanwhile(session, found, seat, data.prompt_id):
        prompt_for(session, found=found, seat=seat, prompt_id=data.prompt_id)
    swapped = seat.walk.swapped[data.prompt_id]
    verdict, rating_a, rating_b = _verdict(data, swapped, found.mode)
    correct_a, correct_b = data.correct_first, data.correct_second
    if swapped:
        correct_a, correct_b = correct_b, correct_a
    values = {
        "verdict": verdict,
        "rating_a": rating_a,
        "rating_b": rating_b,
        "correct_a": correct_a,
        "correct_b": correct_b,
        "reasons": sorted(set(data.reasons)),
        "comment": data.comment.strip(),
    }
    judgment = seat.mine.get(data.prompt_id)
    if judgment is None:
        judgment = EvalJudgment(
            round_id=found.id,
            prompt_id=data.prompt_id,
            judge_id=judge.id,
            swapped=swapped,
            **values,
        )
        session.add(judgment)
        session.flush()
        action, before = "eval_judgment.created", None
    else:
        if data.version is not None and data.version != judgment.version:
            raise Conflict(N_("This judgment changed in another window; reload it."))
        before = {k: getattr(judgment, k) for k in values}
        for key, value in values.items():
            setattr(judgment, key, value)
        session.flush()
        action = "eval_judgment.changed"
    audit.record(
        session,
        actor=judge,
        action=action,
        entity_type="eval_judgment",
        entity_id=judgment.id,
        before=before,
        after={"round_id": found.id, "prompt_id": data.prompt_id, **values},
    )
    return judgment


@dataclass(frozen=True)
class Progress:
    prompts: int
    wanted: int  # prompts × overlap
    judged: int
    per_judge: dict[int, int]  # judge id → judgments

    @property
    def share(self) -> float:
        return min(1.0, self.judged / self.wanted) if self.wanted else 1.0


def progress(session: Session, *, found: EvalRound) -> Progress:
    per_judge = dict(
        session.execute(
            select(EvalJudgment.judge_id, func.count())
            .where(EvalJudgment.round_id == found.id)
            .group_by(EvalJudgment.judge_id)
        ).all()
    )
    counts = _counts(session, found.id)
    prompts = rounds.prompt_count(session, found.id)
    judged = sum(min(n, found.overlap) for n in counts.values())
    return Progress(prompts, prompts * found.overlap, judged, per_judge)
