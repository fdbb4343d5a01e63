"""Review decisions, reopening, and the review queue with leases (design §2, §4)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Text, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from app.assignments import service as assignments
from app.audit import service as audit
from app.core import links
from app.core import status as machine
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.i18n import N_
from app.items import repository as item_queries
from app.locking import locked
from app.members import access as members
from app.models import Item, Project, ProjectRole, Review, User
from app.models.base import utcnow
from app.reviews import independence

LEASE = timedelta(minutes=10)
DECISIONS = ("approve", "reject", "request_changes")


@dataclass(frozen=True)
class QueueFilter:
    project_id: int
    kind: str | None = None
    domain: str | None = None
    author_id: int | None = None
    tag: str | None = None
    reason: str | None = None


def _locked_item(session: Session, item_id: int) -> Item:
    """The item, locked for this transaction and refreshed (see app.locking.locked)."""
    item = locked(session, Item, item_id)
    if item is None:
        raise NotFound(N_("No item with id %(id)s."), id=item_id)
    return item


def _require_reviewer(session: Session, user: User, *, project_id: int) -> None:
    """Reviewing takes the reviewer (or manager) role in the item's project."""
    role = members.role_in(session, user=user, project_id=project_id)
    if role is None or role.rank < ProjectRole.reviewer.rank:
        raise Forbidden(N_("Only the project's reviewers and managers review items."))


def _project_of_item(session: Session, item_id: int) -> int:
    project_id = session.scalar(select(Item.project_id).where(Item.id == item_id))
    if project_id is None:
        raise NotFound(N_("No item with id %(id)s."), id=item_id)
    return project_id


def decide(
    *,
    session: Session,
    item_id: int,
    reviewer: User,
    decision: str,
    version: int,
    reason: str | None = None,
    comment: str = "",
) -> Review:
    """Record a decision on the version the reviewer saw.

    The same decision sent twice (a double click, two tabs) returns the first one and
    records nothing new. Under a two-approval policy the item stays submitted until a
    second, different reviewer approves the same version; a rejection or a change
    request by either wins. Nobody decides on content they saved, or approves an item they
    changed since its last approval (app.reviews.independence).
    """
    _require_reviewer(session, reviewer, project_id=_project_of_item(session, item_id))
    if decision not in DECISIONS:
        raise InvalidInput(N_("Unknown decision."), errors={"decision": N_("Invalid.")})
    if reason is not None and reason not in machine.REASONS:
        raise InvalidInput(N_("Choose a reason from the list."), errors={"reason": N_("Invalid.")})
    if decision != "approve" and not reason:
        raise InvalidInput(N_("Choose a reason from the list."), errors={"reason": N_("Required.")})
    item = _locked_item(session, item_id)
    if item.author_id == reviewer.id:
        raise Forbidden(N_("Authors never review their own items."))
    earlier = session.scalar(
        select(Review).where(
            Review.item_id == item.id,
            Review.item_version == version,
            Review.reviewer_id == reviewer.id,
        )
    )
    if earlier is not None:
        if earlier.decision == decision:
            return earlier
        raise Conflict(N_("You already decided on this version of the item."))
    if item.version != version:
        raise Conflict(
            N_(
                "The item changed since you opened it (now version %(v)s). Reload "
                "to review the new version."
            ),
            v=item.version,
            current=item,
        )
    new_status = machine.next_status(item.status, decision)
    if new_status is None:
        raise Conflict(machine.WHY_NOT[decision], status=item.status)
    project = session.get(Project, item.project_id)
    refused = independence.refusal(
        session=session,
        item=item,
        reviewer=reviewer,
        decision=decision,
        approvals_needed=project.approvals_needed,
    )
    if refused is not None:
        raise refused
    review = Review(
        item_id=item.id,
        project_id=item.project_id,
        item_version=item.version,
        reviewer_id=reviewer.id,
        author_id=item.author_id,
        decision=decision,
        reason=reason,
        comment=comment.strip(),
        submitted_at=item.submitted_at or item.created_at,
        created_at=utcnow(),
    )
    session.add(review)
    session.flush()
    before = {"status": item.status, "version": item.version}
    if decision == "approve":
        approvals = session.scalar(
            select(func.count(func.distinct(Review.reviewer_id))).where(
                Review.item_id == item.id,
                Review.item_version == item.version,
                Review.decision == "approve",
            )
        )
        if approvals < project.approvals_needed:
            new_status = "submitted"
    if new_status != item.status:
        item.status = new_status
        item.review_priority = 0
        item.priority_reviewer_id = reviewer.id if decision == "request_changes" else None
        item.reopen_reason = None
        item.reopen_link = None
        item.lease_by = None
        item.lease_until = None
        session.flush()
    else:
        # A first approval of two changes nothing a second reviewer must re-read: keep
        # the version (they approve the same one) and only free the lease.
        release(session=session, item_id=item.id, reviewer=reviewer)
    audit.record(
        session,
        actor=reviewer,
        action=f"review.{decision}",
        entity_type="item",
        entity_id=item.id,
        before=before,
        after={
            "status": item.status,
            "version": item.version,
            "reason": reason,
            "comment": review.comment,
            "reviewed_version": review.item_version,
        },
    )
    return review


def reopen(
    *,
    session: Session,
    item_id: int,
    actor: User,
    reason: str,
    comment: str = "",
    link: str | None = None,
) -> Item:
    """Move an approved item back to submitted for a new review round. ``link`` (what flagged
    it) is a path inside the app or an outside http(s) address (see app.core.links)."""
    _require_reviewer(session, actor, project_id=_project_of_item(session, item_id))
    if reason not in machine.REASONS:
        raise InvalidInput(N_("Choose a reason from the list."), errors={"reason": N_("Invalid.")})
    try:
        parsed = links.parse(link)
    except links.BadLink as bad:
        raise InvalidInput(bad.message, errors={"link": bad.message}) from None
    link = parsed.text if parsed else None
    item = _locked_item(session, item_id)
    if machine.next_status(item.status, "reopen") is None:
        raise Conflict(machine.WHY_NOT["reopen"], status=item.status)
    before = {"status": item.status, "version": item.version}
    item.status = "submitted"
    item.submitted_at = utcnow()
    item.review_priority = 1 if reason == "flagged_by_training" else 0
    item.priority_reviewer_id = None
    item.reopen_reason = reason + (f": {comment.strip()}" if comment.strip() else "")
    item.reopen_link = link
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="review.reopen",
        entity_type="item",
        entity_id=item.id,
        before=before,
        after={
            "status": item.status,
            "version": item.version,
            "reason": reason,
            "comment": comment.strip(),
            "link": link,
        },
    )
    return item


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _tiers(reviewer: User) -> list:
    """The queue's tiers, first first: resubmissions to the reviewer who asked for changes,
    then items reopened by training, then the rest. Each is read oldest submission first on
    its own, from an index: one ordering by a computed tier sorted every submitted item on
    each claim (138 ms at 100,000 items)."""
    not_mine = or_(Item.priority_reviewer_id.is_(None), Item.priority_reviewer_id != reviewer.id)
    return [
        Item.priority_reviewer_id == reviewer.id,
        and_(not_mine, Item.review_priority > 0),
        and_(not_mine, Item.review_priority == 0),
    ]


def _tier_of(item: Item, reviewer: User) -> int:
    return 0 if item.priority_reviewer_id == reviewer.id else 1 if item.review_priority > 0 else 2


def _after(item: Item):
    """Items after ``item`` in its tier's order."""
    began = item.submitted_at or item.created_at
    return or_(Item.submitted_at > began, and_(Item.submitted_at == began, Item.id > item.id))


def claim_next(
    *, session: Session, reviewer: User, f: QueueFilter, after: Item | None = None
) -> Item | None:
    """Lease the next item for this reviewer with one conditional UPDATE.

    Order: items resubmitted to this reviewer after their change request, then items
    reopened by training, then the oldest submission. Two reviewers never hold the same
    item: the outer WHERE re-checks the lease, and PostgreSQL skips rows another claimer
    has locked. `after` (the item the reviewer skips) serves the next one in that order,
    wrapping round to the start of the queue at its end.
    """
    _require_reviewer(session, reviewer, project_id=f.project_id)
    now = utcnow()
    free = (Item.lease_until.is_(None)) | (Item.lease_until < now) | (Item.lease_by == reviewer.id)
    decided = exists().where(
        Review.item_id == Item.id,
        Review.item_version == Item.version,
        Review.reviewer_id == reviewer.id,
    )
    candidate = select(Item.id).where(
        Item.project_id == f.project_id,
        Item.status == "submitted",
        free,
        ~decided,
        (Item.author_id.is_(None)) | (Item.author_id != reviewer.id),
        ~independence.wrote_current_content(reviewer),
        assignments.offered_for_review(reviewer.id),
    )
    for column, value in (
        (Item.kind, f.kind),
        (Item.domain, f.domain),
        (Item.author_id, f.author_id),
    ):
        if value:
            candidate = candidate.where(column == value)
    if f.tag:
        # The tag list is small JSON on both backends: match its text, as the item list does.
        candidate = candidate.where(
            func.cast(Item.tags, Text).like(f'%"{_like(f.tag)}"%', escape="\\")
        )
    if f.reason:
        candidate = candidate.where(Item.reopen_reason.like(f"{_like(f.reason)}%", escape="\\"))

    def lease(*conditions) -> int | None:
        first = (
            candidate.where(*conditions)
            .order_by(Item.submitted_at, Item.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return session.execute(
            update(Item)
            .where(Item.id == first.scalar_subquery(), free)
            .values(lease_by=reviewer.id, lease_until=now + LEASE)
            .returning(Item.id)
            .execution_options(synchronize_session=False)
        ).scalar()

    tiers = _tiers(reviewer)
    # After a skipped item: the rest of its tier, then the tiers below it; then from the top.
    start = _tier_of(after, reviewer) if after is not None else len(tiers)
    order = [(tiers[start], _after(after))] if after is not None else []
    order += [(tier,) for tier in tiers[start + 1 :]] + [(tier,) for tier in tiers]
    claimed = None
    for conditions in order:
        if (claimed := lease(*conditions)) is not None:
            break
    if claimed is None:
        return None
    return session.scalar(
        select(Item).where(Item.id == claimed).execution_options(populate_existing=True)
    )


def release(*, session: Session, item_id: int, reviewer: User) -> None:
    session.execute(
        update(Item)
        .where(Item.id == item_id, Item.lease_by == reviewer.id)
        .values(lease_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def reviews_of(*, session: Session, item_id: int) -> list[Review]:
    return list(
        session.scalars(select(Review).where(Review.item_id == item_id).order_by(Review.id))
    )


def previous_decided(*, session: Session, reviewer: User, before_item: int | None) -> int | None:
    """The item this reviewer decided on before `before_item` (for `k`): on an item they
    decided, the one decided before it, so repeated `k` walks back through their work."""
    query = select(Review.item_id).where(Review.reviewer_id == reviewer.id)
    if before_item is not None:
        own = session.scalar(
            select(func.max(Review.id)).where(
                Review.reviewer_id == reviewer.id, Review.item_id == before_item
            )
        )
        query = query.where(Review.item_id != before_item)
        if own is not None:
            query = query.where(Review.id < own)
    return session.scalar(query.order_by(Review.id.desc()).limit(1))


def author_record(*, session: Session, author_id: int | None, limit: int = 50) -> dict[str, int]:
    """Decisions on this author's recent items: how often they pass review."""
    if author_id is None:
        return {}
    recent = (
        select(Review.decision)
        .where(Review.author_id == author_id)
        .order_by(Review.id.desc())
        .limit(limit)
        .subquery()
    )
    rows = session.execute(select(recent.c.decision, func.count()).group_by(recent.c.decision))
    return {decision: n for decision, n in rows}


def inbox(
    *, session: Session, author: User, within: Collection[int] | None = None
) -> list[tuple[Item, Review | None]]:
    """Items sent back to this author, with the reviewer's latest comment; only in the
    projects ``within`` (None: all)."""
    query = (
        select(Item)
        .where(Item.author_id == author.id, Item.status == "changes_requested")
        .order_by(Item.updated_at.desc())
    )
    if within is not None:
        query = query.where(Item.project_id.in_(within))
    items = session.scalars(query).all()
    return [(item, item_queries.latest_change_request(session, item.id)) for item in items]
