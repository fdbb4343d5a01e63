"""Item queries: filters, search through the term index, keyset pagination, counts."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from app.core.status import ItemStatus
from app.db import MAX_INTEGER
from app.errors import InvalidInput
from app.i18n import N_
from app.items.indexing import query_terms
from app.models import Assignment, Item, Review, SearchTerm

SORTS = {"newest", "oldest", "updated"}


@dataclass(frozen=True)
class ItemFilter:
    project_id: int
    kind: str | None = None
    status: str | None = None
    domain: str | None = None
    tag: str | None = None
    author_id: int | None = None
    difficulty: int | None = None
    language: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    q: str = ""
    sort: str = "newest"
    item_ids: tuple[int, ...] = field(default_factory=tuple)
    # Whose drafts may be listed: only this person's and those handed to them (an annotator in
    # a project that keeps drafts private), or everyone's when None.
    drafts_of: int | None = None


def visible(query: Select, drafts_of: int | None) -> Select:
    """``query`` without the drafts its reader may not see: with ``drafts_of`` set, only that
    person's own drafts and those handed to them (see ``app.members.access.drafts_of``)."""
    if drafts_of is None:
        return query
    return query.where(or_(Item.status != ItemStatus.draft, Item.id.in_(_drafts_seen(drafts_of))))


def _drafts_seen(user_id: int) -> Select:
    """The ids of the items someone wrote or was handed: a semi-join each database runs from
    its author index and the assignments, where an OR of the two would scan the items."""
    return (
        select(Item.id)
        .where(Item.author_id == user_id)
        .union(select(Assignment.item_id).where(Assignment.user_id == user_id))
    )


def _where(query: Select, f: ItemFilter, *, with_status: bool = True) -> Select:
    query = query.where(Item.project_id == f.project_id)
    if not (with_status and f.status and f.status != ItemStatus.draft):
        query = visible(query, f.drafts_of)  # (any other status is visible to every member)
    for column, value in (
        (Item.kind, f.kind),
        (Item.domain, f.domain),
        (Item.author_id, f.author_id),
        (Item.difficulty, f.difficulty),
        (Item.language, f.language),
    ):
        if value not in (None, ""):
            query = query.where(column == value)
    if with_status and f.status:
        query = query.where(Item.status == f.status)
    if f.created_from:
        query = query.where(Item.created_at >= datetime.combine(f.created_from, time(), UTC))
    if f.created_to:
        end = datetime.combine(f.created_to + timedelta(days=1), time(), UTC)
        query = query.where(Item.created_at < end)
    if f.tag:
        # JSON containment differs by backend; the tag list is small, so match its text.
        query = query.where(
            func.cast(Item.tags, _text()).like(f'%"{_escape(f.tag)}"%', escape="\\")
        )
    if f.q.strip():
        exact, verify = query_terms(f.q)
        for term in exact:
            query = query.where(
                Item.id.in_(select(SearchTerm.item_id).where(SearchTerm.term == term))
            )
        for text in verify if verify else []:
            pattern = f"%{_escape(text)}%"
            query = query.where(
                or_(
                    func.lower(Item.instruction).like(pattern, escape="\\"),
                    func.lower(Item.input).like(pattern, escape="\\"),
                    func.lower(Item.output).like(pattern, escape="\\"),
                )
            )
        if not exact and not verify:
            query = query.where(False)
    return query


def _text():
    from sqlalchemy import Text

    return Text()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


MAX_CURSOR_CHARS = 200  # a cursor this module wrote is under 80 characters
BAD_CURSOR = N_(
    "This page link is damaged or out of date. Start again from the first page of the list."
)


def _decode(cursor: str, sort: str) -> tuple[int] | tuple[datetime, int]:
    """The position a cursor from :func:`page` holds for ``sort``: ``(id,)``, or
    ``(updated_at, id)`` when sorted by last change. Anything else was not written here."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError(cursor)
        values = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if not isinstance(values, list):
            raise TypeError(values)
        if sort == "updated":
            stamp, row_id = values
            return datetime.fromisoformat(_str(stamp)), _row_id(row_id)
        (row_id,) = values
        return (_row_id(row_id),)
    except (ValueError, TypeError, RecursionError) as error:  # bad base64, JSON, shape, value
        raise InvalidInput(BAD_CURSOR) from error


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _row_id(value: object) -> int:
    # bool is an int in Python, and JSON true is no id.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INTEGER:
        raise ValueError(value)
    return value


def page(session: Session, f: ItemFilter, *, cursor: str | None = None, limit: int = 50):
    """One page of items and the cursor for the next one (keyset, never OFFSET).

    A cursor that :func:`page` did not write for this sort is refused with InvalidInput."""
    sort = f.sort if f.sort in SORTS else "newest"
    query = _where(select(Item), f)
    after = _decode(cursor, sort) if cursor else None
    if sort == "oldest":
        if after:
            query = query.where(Item.id > after[0])
        query = query.order_by(Item.id.asc())
    elif sort == "updated":
        if after:
            stamp, row_id = after
            query = query.where(
                or_(Item.updated_at < stamp, and_(Item.updated_at == stamp, Item.id < row_id))
            )
        query = query.order_by(Item.updated_at.desc(), Item.id.desc())
    else:
        if after:
            query = query.where(Item.id < after[0])
        query = query.order_by(Item.id.desc())
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode(
            [last.updated_at.isoformat(), last.id] if sort == "updated" else [last.id]
        )
    return rows, next_cursor


# Status tabs count up to this many items each and then say "10,000+": counting every match of
# a broad filter in a 100k-item project costs more than fetching the page itself.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class StatusCounts:
    counts: dict[str, int]  # statuses with at least one item; values stop at COUNT_CAP
    capped: frozenset[str] = frozenset()

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def counts_by_status(session: Session, f: ItemFilter, *, cap: int = COUNT_CAP) -> StatusCounts:
    """Items per status for the filter (ignoring its status), each count stopping at ``cap``.

    One statement of one bounded subquery per status, each an index range scan: only the
    drafts are narrowed to those the reader may see, so no other count loses its index."""
    matching = _where(select(Item.id), replace(f, drafts_of=None), with_status=False)

    def of(status: ItemStatus) -> Select:
        rows = matching.where(Item.status == status.value)
        if status == ItemStatus.draft and f.drafts_of is not None:
            return rows.where(Item.id.in_(_drafts_seen(f.drafts_of)))
        return rows

    columns = [
        select(func.count())
        .select_from(of(status).limit(cap + 1).subquery())
        .scalar_subquery()
        .label(status.value)
        for status in ItemStatus
    ]
    row = session.execute(select(*columns)).one()
    found = {status.value: n for status, n in zip(ItemStatus, row, strict=True) if n}
    return StatusCounts(
        counts={status: min(n, cap) for status, n in found.items()},
        capped=frozenset(status for status, n in found.items() if n > cap),
    )


def authors(session: Session, project_id: int) -> list[tuple[int, str]]:
    from app.models import User

    query = (
        select(User.id, User.email)
        .where(User.id.in_(select(Item.author_id).where(Item.project_id == project_id).distinct()))
        .order_by(User.email)
    )
    return [(row.id, row.email) for row in session.execute(query)]


def domains(session: Session, project_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Item.domain)
            .where(Item.project_id == project_id, Item.domain.is_not(None))
            .distinct()
            .order_by(Item.domain)
        )
    )


def latest_change_request(session: Session, item_id: int) -> Review | None:
    """The reviewer's latest request for changes on this item (what the author must address)."""
    return session.scalar(
        select(Review)
        .where(Review.item_id == item_id, Review.decision == "request_changes")
        .order_by(Review.id.desc())
        .limit(1)
    )
