"""Independent review: nobody decides on content they saved, and nobody approves an item they
changed since it was last approved, whatever the approval policy.

Reviewers may edit any item, so the item's author is not the only person whose work is under
review. What counts is who saved each change of content (``ItemRevision.editor_id``); a
revision that changes only the tags, domain, difficulty or status (bulk tagging, submitting)
changes no content and makes nobody its author."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session, aliased

from app.errors import Forbidden
from app.i18n import N_
from app.models import Item, ItemRevision, Review, User

SAVED_THIS_VERSION = N_("You saved the content of this version, so another reviewer decides on it.")
CHANGED_SINCE_APPROVAL = N_(
    "You changed this item since it was last approved, so other reviewers approve it. You "
    "can still reject it or request changes."
)


@dataclass(frozen=True)
class Editors:
    """Who wrote the content as it is now, and everyone who changed it since the last
    approval (or since it was written, when it was never approved)."""

    latest: int | None
    since_approval: set[int]


def _last_approved_version(session: Session, item: Item, approvals_needed: int) -> int | None:
    """The latest version that enough different reviewers approved under the project's
    policy. An approval still short of the policy is no boundary: what it approved is still
    waiting for its second reviewer."""
    per_version = (
        select(Review.item_version)
        .where(Review.item_id == item.id, Review.decision == "approve")
        .group_by(Review.item_version)
        .having(func.count(func.distinct(Review.reviewer_id)) >= approvals_needed)
        .subquery()
    )
    return session.scalar(select(func.max(per_version.c.item_version)))


def editors(*, session: Session, item: Item, approvals_needed: int) -> Editors:
    rows = session.execute(
        select(ItemRevision.version, ItemRevision.editor_id, ItemRevision.content_hash)
        .where(ItemRevision.item_id == item.id, ItemRevision.version <= item.version)
        .order_by(ItemRevision.version)
    ).all()
    boundary = _last_approved_version(session, item, approvals_needed) or 0
    latest: int | None = None
    since: set[int] = set()
    previous_hash = None
    for version, editor_id, content_hash in rows:
        if content_hash == previous_hash:
            continue  # tags, domain, difficulty or status only
        previous_hash = content_hash
        latest = editor_id
        if version > boundary and editor_id is not None:
            since.add(editor_id)
    return Editors(latest=latest, since_approval=since)


def refusal(
    *, session: Session, item: Item, reviewer: User, decision: str, approvals_needed: int
) -> Forbidden | None:
    """Why ``reviewer`` may not make ``decision`` on the item's current version, or None."""
    who = editors(session=session, item=item, approvals_needed=approvals_needed)
    if who.latest == reviewer.id:
        return Forbidden(SAVED_THIS_VERSION)
    if decision == "approve" and reviewer.id in who.since_approval:
        return Forbidden(CHANGED_SINCE_APPROVAL)
    return None


def wrote_current_content(reviewer: User) -> ColumnElement[bool]:
    """SQL: the reviewer saved the item's content as it is now (for the queue to skip it).

    The same rule as :func:`editors`, in one correlated query: the current content began
    with the first revision after the last one that held other content."""
    other = aliased(ItemRevision)
    first = aliased(ItemRevision)
    last_other_content = (
        select(func.max(other.version))
        .where(other.item_id == Item.id, other.content_hash != Item.content_hash)
        .correlate(Item)
        .scalar_subquery()
    )
    first_of_current = (
        select(func.min(first.version))
        .where(first.item_id == Item.id, first.version > func.coalesce(last_other_content, 0))
        .correlate(Item)
        .scalar_subquery()
    )
    return (
        select(ItemRevision.id)
        .where(
            and_(
                ItemRevision.item_id == Item.id,
                ItemRevision.version == first_of_current,
                ItemRevision.editor_id == reviewer.id,
            )
        )
        .exists()
    )
