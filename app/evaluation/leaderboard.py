"""A project's leaderboard: every system that took part in a closed pairwise round, ranked
by Bradley–Terry strength with bootstrap intervals.

Only closed rounds count: a running round's judgments would tell its judges how the systems
they are judging fare.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import judging_stats
from app.evaluation.systems import System
from app.models import EvalJudgment, EvalRound, Job

# A "both bad" verdict says neither output was better: for strength it is a tie.
OUTCOME = {"a": "a", "b": "b", "tie": "tie", "both_bad": "tie"}
RESAMPLES = 200


@dataclass(frozen=True)
class Entry:
    rank: int
    system: System
    job: Job | None
    rating: float
    low: float
    high: float
    judgments: int
    component: int


@dataclass(frozen=True)
class Leaderboard:
    entries: list[Entry]
    connected: bool
    components: int
    rounds: int
    judgments: int


def comparisons(session: Session, *, project_id: int) -> tuple[list, int]:
    """Every judgment of the project's closed pairwise rounds, and how many rounds."""
    found = list(
        session.scalars(
            select(EvalRound).where(
                EvalRound.project_id == project_id,
                EvalRound.status == "closed",
                EvalRound.mode == "pairwise",
            )
        )
    )
    systems = {r.id: (System(r.a_job_id, r.a_side), System(r.b_job_id, r.b_side)) for r in found}
    rows = []
    if systems:
        for round_id, verdict in session.execute(
            select(EvalJudgment.round_id, EvalJudgment.verdict).where(
                EvalJudgment.round_id.in_(list(systems))
            )
        ):
            a, b = systems[round_id]
            rows.append(judging_stats.Comparison(a, b, OUTCOME[verdict]))
    return rows, len(found)


def leaderboard(session: Session, *, project_id: int, seed: int = 0) -> Leaderboard:
    found, round_count = comparisons(session, project_id=project_id)
    if not found:
        return Leaderboard([], True, 0, round_count, 0)
    fit = judging_stats.bradley_terry(found)
    intervals = judging_stats.bootstrap_intervals(found, resamples=RESAMPLES, seed=seed)
    component = {s: i for i, members in enumerate(fit.components) for s in members}
    jobs = {
        job.id: job
        for job in session.scalars(
            select(Job).where(Job.id.in_({s.job_id for s in fit.strengths if s.job_id}))
        )
    }
    ordered = sorted(fit.strengths, key=lambda s: (-fit.strengths[s], s.key))
    entries = [
        Entry(
            rank=rank,
            system=system,
            job=jobs.get(system.job_id) if system.job_id else None,
            rating=fit.rating(system),
            low=intervals[system][0],
            high=intervals[system][1],
            judgments=fit.comparisons[system],
            component=component[system],
        )
        for rank, system in enumerate(ordered, start=1)
    ]
    return Leaderboard(entries, fit.connected, len(fit.components), round_count, len(found))
