"""What the evaluation pages show: the rounds a person may see, the new-round form's choices,
a round's progress by judge, and the widths of the pages' bars.

Every figure that could tell a judge which output came from which system is gathered here
only when ``rounds.sees_results`` allows it, so a template cannot show what it never got.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.judging_stats import Tally
from app.errors import Forbidden
from app.evaluation import judging, rounds, systems
from app.evaluation.leaderboard import Leaderboard
from app.evaluation.results import RoundResults, round_results
from app.i18n import N_
from app.members import service as members
from app.members.access import Membership
from app.models import EvalPrediction, EvalRound, Item, Job, ProjectRole, User

VERDICT_NAMES = {
    "a": N_("A better"),
    "b": N_("B better"),
    "tie": N_("tie"),
    "both_bad": N_("both bad"),
}


@dataclass(frozen=True)
class RoundRow:
    """A round as the evaluation page lists it for one person."""

    round: EvalRound
    progress: judging.Progress
    may_judge: bool
    systems: tuple[systems.System, systems.System] | None  # None unless the person sees results


def visible_rounds(
    session: Session, *, project_id: int, user: User, member: Membership
) -> list[RoundRow]:
    """Every round for the project's reviewers; only the rounds naming them for annotators."""
    found = []
    for candidate in rounds.list_rounds(session, project_id=project_id):
        judge = rounds.may_judge(session, found=candidate, user=user)
        if not judge and not member.at_least(ProjectRole.reviewer):
            continue
        sees = rounds.sees_results(session, found=candidate, user=user)
        found.append(
            RoundRow(
                round=candidate,
                progress=judging.progress(session, found=candidate),
                may_judge=judge,
                systems=rounds.systems_of(candidate) if sees else None,
            )
        )
    return found


def check_results(session: Session, *, found: EvalRound, user: User) -> None:
    if not rounds.sees_results(session, found=found, user=user):
        raise Forbidden(N_("The results of this round are hidden from you until it closes."))


@dataclass(frozen=True)
class FilterValues:
    """The kinds, languages and domains among the eval items of the project's finished jobs."""

    kinds: list[str]
    languages: list[str]
    domains: list[str]


def filter_values(session: Session, *, project_id: int) -> FilterValues:
    rows = session.execute(
        select(EvalPrediction.kind, Item.language, Item.domain)
        .join(Item, Item.id == EvalPrediction.item_id)
        .join(Job, Job.id == EvalPrediction.job_id)
        .where(
            Job.project_id == project_id, Job.status == "succeeded", EvalPrediction.split == "eval"
        )
        .distinct()
    ).all()
    return FilterValues(
        kinds=sorted({kind for kind, _, _ in rows}),
        languages=sorted({language for _, language, _ in rows if language}),
        domains=sorted({domain for _, _, domain in rows if domain}),
    )


def form_choices(session: Session, *, project_id: int) -> dict:
    """What the new-round form offers: systems, filter values and the project's members."""
    return {
        "systems": systems.choices(session, project_id=project_id),
        "values": filter_values(session, project_id=project_id),
        "members": members.list_members(session=session, project_id=project_id),
    }


@dataclass(frozen=True)
class JudgeProgress:
    email: str
    judged: int


@dataclass
class RoundView:
    """A round's page for one person."""

    round: EvalRound
    progress: judging.Progress
    may_judge: bool
    sees_results: bool
    mine: int  # judgments this person made
    next_id: int | None  # the prompt the judge gets next, if any
    judges: list[JudgeProgress]  # only for those who see results
    jobs: dict[int, Job]  # only for those who see results
    results: RoundResults | None = None

    @property
    def live(self) -> bool:
        """Results refresh while the round runs (only its non-judging managers see them)."""
        return self.sees_results and self.round.status == "open"


def _judge_progress(
    session: Session, found: EvalRound, progress: judging.Progress
) -> list[JudgeProgress]:
    """Everyone who judged, and named judges who have not started yet."""
    ids = set(progress.per_judge) | set(rounds.named_judges(session, found.id))
    emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(ids))).all())
    return sorted(
        (JudgeProgress(emails.get(i, f"#{i}"), progress.per_judge.get(i, 0)) for i in ids),
        key=lambda j: (-j.judged, j.email),
    )


def round_view(session: Session, *, found: EvalRound, user: User) -> RoundView:
    progress = judging.progress(session, found=found)
    judge = rounds.may_judge(session, found=found, user=user)
    sees = rounds.sees_results(session, found=found, user=user)
    next_id = None
    if judge and found.status == "open":
        next_id = judging.seat_of(session, found=found, judge=user).next_id
    view = RoundView(
        round=found,
        progress=progress,
        may_judge=judge,
        sees_results=sees,
        mine=progress.per_judge.get(user.id, 0),
        next_id=next_id,
        judges=[],
        jobs={},
    )
    if sees:
        view.judges = _judge_progress(session, found, progress)
        ids = {i for i in (found.a_job_id, found.b_job_id) if i is not None}
        view.jobs = {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(ids)))}
        view.results = round_results(session, found=found)
    return view


@dataclass(frozen=True)
class Segment:
    key: str  # wins, ties, both_bad, losses
    count: int
    percent: int  # whole percent of the bar; the segments add up to 100


def segments(tally: Tally) -> list[Segment]:
    """The stacked bar of a tally: A better, tie, both bad, B better. Widths are whole
    percent (the page sets them with classes, as its CSP forbids style attributes), rounded
    by largest remainder so that they fill the bar exactly."""
    parts = [
        ("wins", tally.wins),
        ("ties", tally.ties - tally.both_bad),
        ("both_bad", tally.both_bad),
        ("losses", tally.losses),
    ]
    if not tally.n:
        return [Segment(key, 0, 0) for key, _ in parts]
    exact = [100 * count / tally.n for _, count in parts]
    whole = [int(x) for x in exact]
    by_remainder = sorted(range(len(parts)), key=lambda i: (whole[i] - exact[i], i))
    for i in by_remainder[: 100 - sum(whole)]:
        whole[i] += 1
    return [Segment(key, count, w) for (key, count), w in zip(parts, whole, strict=True)]


@dataclass(frozen=True)
class IntervalBar:
    left: int  # percent of the scale where the interval starts
    width: int  # percent of the scale it covers (at least 1, so it stays visible)
    point: int  # percent of the scale where the rating lies


def interval_bars(board: Leaderboard) -> dict[str, IntervalBar]:
    """Each entry's rating interval on one scale from the lowest bound to the highest, by
    system key."""
    if not board.entries:
        return {}
    low = min(e.low for e in board.entries)
    high = max(e.high for e in board.entries)
    span = (high - low) or 1.0

    def at(x: float) -> int:
        return max(0, min(100, round(100 * (x - low) / span)))

    return {
        e.system.key: IntervalBar(
            at(e.low), max(1, min(100 - at(e.low), at(e.high) - at(e.low))), at(e.rating)
        )
        for e in board.entries
    }
