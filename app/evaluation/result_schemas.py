"""JSON shapes of what rounds found: a round's results (tallies with intervals and sign
tests, overall and by group; agreement; disagreements; ratings) and a project's leaderboard.
Shared by the API and `studio rounds results|leaderboard --json`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.core.judging_stats import Tally
from app.evaluation import rounds
from app.evaluation.leaderboard import Leaderboard
from app.evaluation.results import GROUPINGS, RoundResults
from app.evaluation.schemas import MessageOut, SystemOut
from app.jobs.schemas import finite
from app.models import EvalRound

METHOD = (
    "Win rate of system A with a 95% Wilson score interval, ties count as half a win; "
    "two-sided exact sign test over wins and losses (ties left out); judge agreement as "
    "Krippendorff's alpha over the verdicts (nominal)."
)


class TallyOut(BaseModel):
    """System A's record against system B; ties include both_bad."""

    wins: int
    losses: int
    ties: int
    both_bad: int
    n: int
    win_rate: float | None = Field(description="(wins + ties / 2) / n; null when n is 0.")
    interval: list[float] | None = Field(description="95% Wilson interval [low, high].")
    p_value: float = Field(description="Two-sided exact sign test over wins and losses.")
    small: bool = Field(description="Too few judgments (under 10) for the interval to mean much.")

    @classmethod
    def of(cls, t: Tally) -> TallyOut:
        return cls(
            wins=t.wins,
            losses=t.losses,
            ties=t.ties,
            both_bad=t.both_bad,
            n=t.n,
            win_rate=t.win_rate,
            interval=list(t.interval) if t.interval else None,
            p_value=t.p_value,
            small=t.small,
        )


class GroupOut(TallyOut):
    group: str = Field(description="The kind, language or domain; empty for no domain.")


class AlphaOut(BaseModel):
    value: float | None = Field(description="Krippendorff's alpha; null when it cannot be told.")
    reason: str | None = Field(description="Why the value is null.")
    units: int = Field(description="Prompts judged.")


class DisagreementOut(BaseModel):
    prompt_id: int
    position: int
    messages: list[MessageOut]
    output_a: str
    output_b: str
    verdicts: list[str] = Field(description="Every judge's verdict on the prompt.")
    spread: float = Field(description="Variance of system A's score (1, ½ or 0) between judges.")


class RatingOut(BaseModel):
    mean: float | None
    low: float | None = Field(description="95% interval of the mean.")
    high: float | None
    n: int
    correct: float | None = Field(description="Share flagged correct, of those flagged.")


class RatingsOut(BaseModel):
    a: RatingOut
    b: RatingOut


class ResultsOut(BaseModel):
    round_id: int
    status: Literal["open", "closed"]
    final: bool = Field(description="The round is closed: these figures no longer change.")
    a: SystemOut
    b: SystemOut
    judges: int = Field(description="People who judged.")
    overall: TallyOut
    per_kind: list[GroupOut]
    per_language: list[GroupOut]
    per_domain: list[GroupOut]
    alpha: AlphaOut
    disagreements: list[DisagreementOut] = Field(description="The most divided prompts first.")
    ratings: RatingsOut | None = Field(description="Mean ratings; rating rounds only.")
    reasons: dict[str, dict[str, int]] = Field(description="Reason → verdict → judgments.")
    method: str

    @classmethod
    def of(cls, found: EvalRound, res: RoundResults) -> ResultsOut:
        a, b = rounds.systems_of(found)
        ratings = None
        if res.ratings:
            ratings = RatingsOut(**{k: RatingOut(**vars(r)) for k, r in res.ratings.items()})
        return cls(
            round_id=found.id,
            status=found.status,
            final=found.status == "closed",
            a=SystemOut.of(a),
            b=SystemOut.of(b),
            judges=res.judges,
            overall=TallyOut.of(res.overall),
            **{
                f"per_{grouping}": [
                    GroupOut(group=name, **TallyOut.of(t).model_dump())
                    for name, t in res.groups.get(grouping, {}).items()
                ]
                for grouping in GROUPINGS
            },
            alpha=AlphaOut(
                value=finite(res.alpha.alpha), reason=res.alpha.reason, units=res.alpha.n_units
            ),
            disagreements=[
                DisagreementOut(
                    prompt_id=d.prompt.id,
                    position=d.prompt.position,
                    messages=d.prompt.messages,
                    output_a=d.prompt.output_a,
                    output_b=d.prompt.output_b,
                    verdicts=d.verdicts,
                    spread=d.spread,
                )
                for d in res.disagreements
            ],
            ratings=ratings,
            reasons=res.reasons,
            method=METHOD,
        )


class EntryOut(BaseModel):
    rank: int
    system: str = Field(description="`reference`, or a job and a side such as `12:tuned`.")
    job_id: int | None
    side: Literal["base", "tuned", "reference"]
    base_model: str | None = Field(description="The job's base model; null for reference.")
    rating: float | None = Field(description="Bradley–Terry strength on an Elo-like scale.")
    interval: list[float | None] = Field(description="Bootstrap 95% interval [low, high].")
    judgments: int
    component: int = Field(description="The part of the comparison graph; 0 is the largest.")


class LeaderboardOut(BaseModel):
    entries: list[EntryOut]
    connected: bool = Field(
        description="False when some systems were never compared, even indirectly: ratings "
        "compare only within one component."
    )
    components: int
    rounds: int = Field(description="Closed pairwise rounds counted.")
    judgments: int

    @classmethod
    def of(cls, board: Leaderboard) -> LeaderboardOut:
        return cls(
            entries=[
                EntryOut(
                    rank=e.rank,
                    system=e.system.key,
                    job_id=e.system.job_id,
                    side=e.system.side,
                    base_model=e.job.base_model if e.job else None,
                    rating=finite(e.rating),
                    interval=[finite(e.low), finite(e.high)],
                    judgments=e.judgments,
                    component=e.component,
                )
                for e in board.entries
            ],
            connected=board.connected,
            components=board.components,
            rounds=board.rounds,
            judgments=board.judgments,
        )
