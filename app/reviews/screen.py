"""What the review pages show: the queue's figures and everything a reviewer reads beside
an item. Reads only; decisions go through app.reviews.service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.core import pair_view, prompts
from app.core.kinds import ItemContent
from app.items import checks, indexing, repository
from app.models import Item, Project, Review, User
from app.reviews import independence, service


@dataclass(frozen=True)
class QueueOverview:
    waiting: int  # items submitted and waiting for a decision
    domains: list[str]
    authors: list[tuple[int, str]]


def queue_overview(*, session: Session, project: Project) -> QueueOverview:
    """How many items wait for review, and the domains and authors to filter the queue by."""
    waiting = repository.counts_by_status(
        session, repository.ItemFilter(project_id=project.id, status="submitted"), cap=10**9
    ).counts.get("submitted", 0)  # the queue shows the exact figure
    return QueueOverview(
        waiting=waiting,
        domains=repository.domains(session, project.id),
        authors=repository.authors(session, project.id),
    )


@dataclass(frozen=True)
class ReviewSheet:
    """The item as the model will see it, and what a reviewer weighs beside it."""

    messages: list[dict]
    verdicts: list[dict[str, Any]]
    duplicates: list[tuple[Item, float]]
    record: dict[str, int]
    history: list[Review]
    author: User | None
    own: bool
    previous: int | None
    # Why this reviewer may make no decision at all, or may not approve (None: they may).
    refusal: str | None = None
    approve_refusal: str | None = None


def review_sheet(
    *, session: Session, item: Item, reviewer: User, approvals_needed: int
) -> ReviewSheet:
    """Everything the review screen shows for ``item`` to ``reviewer``."""
    who = independence.editors(session=session, item=item, approvals_needed=approvals_needed)
    return ReviewSheet(
        messages=prompts.render_messages(ItemContent.from_row(item)),
        verdicts=pair_view.response_verdicts(item.constraints or [], item.output),
        duplicates=checks.near_duplicates(
            session, project_id=item.project_id, text=indexing.item_text(item), exclude_id=item.id
        ),
        record=service.author_record(session=session, author_id=item.author_id),
        history=service.reviews_of(session=session, item_id=item.id),
        author=session.get(User, item.author_id) if item.author_id else None,
        own=item.author_id == reviewer.id,
        previous=service.previous_decided(session=session, reviewer=reviewer, before_item=item.id),
        refusal=independence.SAVED_THIS_VERSION if who.latest == reviewer.id else None,
        approve_refusal=(
            independence.CHANGED_SINCE_APPROVAL if reviewer.id in who.since_approval else None
        ),
    )
