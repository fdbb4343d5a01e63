"""Project statistics: people's records and the flow of items through review."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.models import Item, Review, User
from app.models.base import utcnow


@dataclass
class AnnotatorStats:
    email: str
    written: int = 0
    submitted: int = 0
    approved: int = 0
    decided: int = 0
    hours_to_decision: list[float] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.decided if self.decided else None

    @property
    def median_hours(self) -> float | None:
        return statistics.median(self.hours_to_decision) if self.hours_to_decision else None


@dataclass
class ReviewerStats:
    email: str
    decisions: Counter = field(default_factory=Counter)
    shared: int = 0  # versions another reviewer also decided on
    agreed: int = 0

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.shared if self.shared else None


def annotators(*, session: Session, project_id: int) -> list[AnnotatorStats]:
    by_author: dict[int, AnnotatorStats] = {}
    emails = dict(session.execute(select(User.id, User.email)).all())
    for author_id, status, n in session.execute(
        select(Item.author_id, Item.status, func.count())
        .where(Item.project_id == project_id)
        .group_by(Item.author_id, Item.status)
    ):
        if author_id is None:
            continue
        stats = by_author.setdefault(author_id, AnnotatorStats(email=emails.get(author_id, "?")))
        stats.written += n
        if status != "draft":
            stats.submitted += n
    for review in session.scalars(select(Review).where(Review.project_id == project_id)):
        if review.author_id is None:
            continue
        stats = by_author.setdefault(
            review.author_id, AnnotatorStats(email=emails.get(review.author_id, "?"))
        )
        stats.decided += 1
        stats.approved += review.decision == "approve"
        if review.reason and review.decision != "approve":
            stats.reasons[review.reason] += 1
        if review.submitted_at:
            hours = (review.created_at - review.submitted_at).total_seconds() / 3600
            stats.hours_to_decision.append(max(hours, 0.0))
    return sorted(by_author.values(), key=lambda s: s.email)


def reviewers(*, session: Session, project_id: int) -> list[ReviewerStats]:
    emails = dict(session.execute(select(User.id, User.email)).all())
    by_version: dict[tuple[int, int], list[Review]] = defaultdict(list)
    result: dict[int, ReviewerStats] = {}
    for review in session.scalars(select(Review).where(Review.project_id == project_id)):
        stats = result.setdefault(
            review.reviewer_id, ReviewerStats(email=emails.get(review.reviewer_id, "?"))
        )
        stats.decisions[review.decision] += 1
        by_version[(review.item_id, review.item_version)].append(review)
    for reviews in by_version.values():
        for review in reviews:
            others = [r for r in reviews if r.reviewer_id != review.reviewer_id]
            if others:
                stats = result[review.reviewer_id]
                stats.shared += 1
                stats.agreed += all(o.decision == review.decision for o in others)
    return sorted(result.values(), key=lambda s: s.email)


def throughput(*, session: Session, project_id: int, days: int = 30) -> dict:
    """Per day over the last `days`: items created, submitted and decided."""
    start = (utcnow() - timedelta(days=days - 1)).date()
    dates = [start + timedelta(days=i) for i in range(days)]
    series = {"created": Counter(), "decided": Counter(), "approved": Counter()}
    for (created,) in session.execute(select(Item.created_at).where(Item.project_id == project_id)):
        series["created"][created.date()] += 1
    for created, decision in session.execute(
        select(Review.created_at, Review.decision).where(Review.project_id == project_id)
    ):
        series["decided"][created.date()] += 1
        if decision == "approve":
            series["approved"][created.date()] += 1
    return {
        "days": [d.isoformat() for d in dates],
        **{name: [counter.get(d, 0) for d in dates] for name, counter in series.items()},
    }


def by_status(*, session: Session, project_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Item.status, func.count()).where(Item.project_id == project_id).group_by(Item.status)
    )
    return dict(rows.all())


@dataclass(frozen=True)
class ModelWork:
    """How much of the approved data a model helped write: outputs it drafted (and how much
    people changed them), and items it made (augmented, generated)."""

    approved: int
    drafted: int  # approved items whose output a model drafted
    mean_edit_ratio: float | None  # over those: 0 kept as drafted, 1 rewritten
    augmented: int
    generated: int

    @property
    def drafted_share(self) -> float | None:
        return self.drafted / self.approved if self.approved else None


def model_work(*, session: Session, project_id: int) -> ModelWork:
    approved = (Item.project_id == project_id) & (Item.status == "approved")
    drafted = approved & Item.drafted_job_id.is_not(None)
    total, drafted_count, mean = session.execute(
        select(
            func.count(),
            func.count(Item.drafted_job_id),
            func.avg(case((drafted, func.coalesce(Item.draft_edit_ratio, 0.0)))),
        ).where(approved)
    ).one()
    origins = dict(
        session.execute(
            select(Item.origin, func.count())
            .where(approved, Item.origin.in_(("augmented", "generated")))
            .group_by(Item.origin)
        ).all()
    )
    return ModelWork(
        approved=total,
        drafted=drafted_count,
        mean_edit_ratio=None if mean is None else round(float(mean), 4),
        augmented=origins.get("augmented", 0),
        generated=origins.get("generated", 0),
    )
