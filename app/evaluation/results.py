"""What a round found: wins, ties and losses for system A, win rate with a Wilson interval,
a sign test and judge agreement, overall and by kind, language and domain; the prompts judges
disagreed on most; mean ratings in rating rounds; and the human verdict on a job."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.core import agreement
from app.core.judging_stats import Tally
from app.models import EvalJudgment, EvalRound, EvalRoundPrompt, Job

GROUPINGS = ("kind", "language", "domain")
NO_DOMAIN = ""  # the group of prompts without a domain
DISAGREEMENTS_SHOWN = 10
# A judgment as a score for system A, for the spread between judges of one prompt.
SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}


@dataclass(frozen=True)
class Rating:
    """Mean 1–5 rating of one system's outputs, with a normal 95% interval."""

    mean: float | None
    low: float | None
    high: float | None
    n: int
    correct: float | None  # share flagged correct, of the outputs flagged either way


@dataclass(frozen=True)
class Disagreement:
    prompt: EvalRoundPrompt
    verdicts: list[str]
    spread: float


@dataclass
class RoundResults:
    overall: Tally
    groups: dict[str, dict[str, Tally]]  # grouping → group → tally
    alpha: agreement.AlphaResult
    disagreements: list[Disagreement]
    judges: int
    ratings: dict[str, Rating] = field(default_factory=dict)  # "a" / "b" in rating rounds
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # reason → loser → count


def _rows(session: Session, round_id: int) -> list[tuple[EvalJudgment, EvalRoundPrompt]]:
    return list(
        session.execute(
            select(EvalJudgment, EvalRoundPrompt)
            .join(EvalRoundPrompt, EvalRoundPrompt.id == EvalJudgment.prompt_id)
            .where(EvalJudgment.round_id == round_id)
            .order_by(EvalJudgment.id)
        ).all()
    )


def _group_of(prompt: EvalRoundPrompt, grouping: str) -> str:
    if grouping == "domain":
        return prompt.domain or NO_DOMAIN
    return getattr(prompt, grouping)


def _rating(values: list[int], flags: list[bool | None]) -> Rating:
    n = len(values)
    if not n:
        return Rating(None, None, None, 0, None)
    mean = sum(values) / n
    if n > 1:
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        half = 1.96 * sd / math.sqrt(n)
        low, high = max(1.0, mean - half), min(5.0, mean + half)
    else:
        low = high = None
    given = [f for f in flags if f is not None]
    return Rating(mean, low, high, n, sum(given) / len(given) if given else None)


def round_results(session: Session, *, found: EvalRound) -> RoundResults:
    rows = _rows(session, found.id)
    overall = Tally.of(j.verdict for j, _ in rows)
    groups: dict[str, dict[str, Tally]] = {}
    for grouping in GROUPINGS:
        split: dict[str, list[str]] = defaultdict(list)
        for judgment, prompt in rows:
            split[_group_of(prompt, grouping)].append(judgment.verdict)
        groups[grouping] = {name: Tally.of(v) for name, v in sorted(split.items())}
    per_prompt: dict[int, list[str]] = defaultdict(list)
    prompts: dict[int, EvalRoundPrompt] = {}
    for judgment, prompt in rows:
        per_prompt[prompt.id].append(judgment.verdict)
        prompts[prompt.id] = prompt
    alpha = agreement.krippendorff_alpha(
        list(per_prompt.values()), level="nominal", categories=("a", "b", "tie", "both_bad")
    )
    results = RoundResults(
        overall=overall,
        groups=groups,
        alpha=alpha,
        disagreements=_disagreements(per_prompt, prompts),
        judges=len({j.judge_id for j, _ in rows}),
        reasons=_reasons(rows),
    )
    if found.mode == "rating":
        results.ratings = {
            "a": _rating(
                [j.rating_a for j, _ in rows if j.rating_a], [j.correct_a for j, _ in rows]
            ),
            "b": _rating(
                [j.rating_b for j, _ in rows if j.rating_b], [j.correct_b for j, _ in rows]
            ),
        }
    return results


def _disagreements(
    per_prompt: dict[int, list[str]], prompts: dict[int, EvalRoundPrompt]
) -> list[Disagreement]:
    """Prompts with two or more judgments, most divided first (variance of A's score)."""
    found = []
    for prompt_id, verdicts in per_prompt.items():
        if len(verdicts) < 2:
            continue
        scores = [SCORE[v] for v in verdicts]
        mean = sum(scores) / len(scores)
        spread = sum((s - mean) ** 2 for s in scores) / len(scores)
        if spread > 0:
            found.append(Disagreement(prompts[prompt_id], sorted(verdicts), spread))
    found.sort(key=lambda d: (-d.spread, d.prompt.position))
    return found[:DISAGREEMENTS_SHOWN]


def _reasons(rows: list[tuple[EvalJudgment, EvalRoundPrompt]]) -> dict[str, dict[str, int]]:
    """How often each reason tag was given, by the judgment's outcome."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for judgment, _ in rows:
        for reason in judgment.reasons or []:
            counts[reason][judgment.verdict] += 1
    return {reason: dict(by) for reason, by in sorted(counts.items())}


@dataclass(frozen=True)
class Verdict:
    """A closed round's human verdict on a job's tuned outputs against its base outputs."""

    round: EvalRound
    tally: Tally  # from the tuned side's point of view


def job_verdicts(session: Session, *, job: Job) -> list[Verdict]:
    """Closed pairwise rounds that compared this job's tuned outputs with its base outputs."""
    found = session.scalars(
        select(EvalRound)
        .where(
            EvalRound.status == "closed",
            EvalRound.a_job_id == job.id,
            EvalRound.b_job_id == job.id,
            or_(EvalRound.a_side == "tuned", EvalRound.b_side == "tuned"),
        )
        .order_by(EvalRound.id.desc())
    )
    verdicts = []
    for candidate in found:
        if {candidate.a_side, candidate.b_side} != {"base", "tuned"}:
            continue
        verdicts_a = [j.verdict for j, _ in _rows(session, candidate.id)]
        if candidate.a_side == "base":
            flip = {"a": "b", "b": "a"}
            verdicts_a = [flip.get(v, v) for v in verdicts_a]
        if verdicts_a:
            verdicts.append(Verdict(candidate, Tally.of(verdicts_a)))
    return verdicts


def open_rounds_on(session: Session, *, job: Job) -> list[EvalRound]:
    return list(
        session.scalars(
            select(EvalRound).where(
                EvalRound.status == "open",
                or_(EvalRound.a_job_id == job.id, EvalRound.b_job_id == job.id),
            )
        )
    )
