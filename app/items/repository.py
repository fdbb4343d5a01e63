"""Item queries: filters, search through the term index, keyset pagination, counts."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Select, Text, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from app.core.status import ItemStatus
from app.db import MAX_INTEGER
from app.errors import InvalidInput
from app.i18n import N_
from app.items.indexing import query_terms
from app.models import Assignment, Item, Review, SearchTerm

SORTS = {"newest", "oldest", "updated"}
# The model-drafted filter: only items whose output a model drafted, or only the others.
Drafted = Literal["yes", "no"]


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
    origin: str | None = None
    # 'yes': only items whose output a model drafted; 'no': only those it did not.
    drafted: str | None = None
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
    return query.where(or_(Item.status != ItemStatus.draft, _seen_draft(drafts_of)))


def _seen_draft(user_id: int):
    """A draft ``user_id`` wrote or was handed, tested row by row: a page newest first then
    stops after its 50 items, where a semi-join of everything they wrote and were handed
    first collected all of it (70 ms for a writer of 100,000 drafts)."""
    handed = select(Assignment.item_id).where(Assignment.user_id == user_id)
    return or_(Item.author_id == user_id, Item.id.in_(handed))


def _where(
    query: Select, f: ItemFilter, *, with_status: bool = True, terms_joined: bool = False
) -> Select:
    """``query`` narrowed to the filter; with ``terms_joined``, the caller has joined the
    search's exact terms already (:func:`_term_walk`) and only the substring checks remain."""
    query = query.where(Item.project_id == f.project_id)
    if not (with_status and f.status and f.status != ItemStatus.draft):
        query = visible(query, f.drafts_of)  # (any other status is visible to every member)
    for column, value in (
        (Item.kind, f.kind),
        (Item.domain, f.domain),
        (Item.author_id, f.author_id),
        (Item.difficulty, f.difficulty),
        (Item.language, f.language),
        (Item.origin, f.origin),
    ):
        if value not in (None, ""):
            query = query.where(column == value)
    if with_status and f.status:
        query = query.where(Item.status == f.status)
    if f.drafted in ("yes", "no"):
        drafted = Item.drafted_job_id.is_not(None)
        query = query.where(drafted if f.drafted == "yes" else ~drafted)
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
        for term in [] if terms_joined else exact:
            query = query.where(
                Item.id.in_(select(SearchTerm.item_id).where(SearchTerm.term == term))
            )
        for text in verify:
            pattern = f"%{_escape(text)}%"
            # Chinese has no case: lower-casing whole texts only to compare them cost more
            # than the comparison.
            fold = func.lower if text.upper() != text else (lambda column: column)
            query = query.where(or_(*(fold(c).like(pattern, escape="\\") for c in _SEARCHED)))
        if not exact and not verify:
            query = query.where(False)
    return query


def matching_versions(
    session: Session, f: ItemFilter, *conditions: Any, limit: int
) -> list[tuple[int, int]]:
    """(id, version) of the items matching the filter and ``conditions`` (and, if it names
    any, among ``f.item_ids``), oldest first, at most ``limit``: what a job over a filter
    pins."""
    query = _chosen(select(Item.id, Item.version), f, conditions)
    return [tuple(row) for row in session.execute(query.order_by(Item.id).limit(limit))]


def _chosen(query: Select, f: ItemFilter, conditions: tuple = ()) -> Select:
    """``query`` narrowed to the filter, the ``conditions`` and the filter's chosen ids."""
    query = _where(query, f).where(*conditions)
    return query.where(Item.id.in_(f.item_ids)) if f.item_ids else query


# A multi-word search walks its rarest word's index rows; each word is counted up to this many.
RAREST_PROBE = 5_000


def _search_terms(session: Session, f: ItemFilter) -> list[str]:
    """The search's exact terms, the rarest first (none without a search)."""
    if not f.q.strip():
        return []
    exact, _ = query_terms(f.q)
    if len(exact) < 2:
        return exact
    bounded = [
        select(func.count())
        .select_from(
            select(SearchTerm.item_id).where(SearchTerm.term == t).limit(RAREST_PROBE).subquery()
        )
        .scalar_subquery()
        for t in exact
    ]
    sizes = session.execute(select(*bounded)).one()
    return [t for _, t in sorted(zip(sizes, exact, strict=True), key=lambda pair: pair[0])]


def _term_walk(query: Select, terms: list[str]):
    """``query`` driven by the first term's index rows, which hold item ids in order: a page
    of matches newest (or oldest) first reads about as many index rows as it needs, where
    ``id IN (…)`` collected every holder of the word and sorted them (tens of milliseconds
    for a word in a fifth of 100,000 items). The other terms are probed by primary key.
    Returns the query and the driving id column, to order and page by."""
    driver = aliased(SearchTerm)
    query = query.join(driver, driver.item_id == Item.id).where(driver.term == terms[0])
    for term in terms[1:]:
        other = aliased(SearchTerm)
        query = query.join(other, and_(other.item_id == driver.item_id, other.term == term))
    return query, driver.item_id


# A pair's rejected response is searched as its chosen one is. A conversation's other turns
# are in its JSON (stored with non-ASCII as is, so a Chinese substring matches its text); an
# empty list or system prompt costs a short comparison.
_SEARCHED = (
    Item.instruction,
    Item.input,
    Item.output,
    Item.system,
    Item.rejected,
    func.cast(Item.turns, Text()),
)


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
    after = _decode(cursor, sort) if cursor else None
    terms = _search_terms(session, f) if sort != "updated" else []
    if terms:
        query, item_id = _term_walk(_where(select(Item), f, terms_joined=True), terms)
    else:
        query, item_id = _where(select(Item), f), Item.id
    if sort == "oldest":
        if after:
            query = query.where(item_id > after[0])
        query = query.order_by(item_id.asc())
    elif sort == "updated":
        if after:
            stamp, row_id = after
            query = query.where(
                or_(Item.updated_at < stamp, and_(Item.updated_at == stamp, Item.id < row_id))
            )
        query = query.order_by(Item.updated_at.desc(), Item.id.desc())
    else:
        if after:
            query = query.where(item_id < after[0])
        query = query.order_by(item_id.desc())
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
    drafts are narrowed to those the reader may see, so no other count loses its index.
    A search is counted in one pass instead (:func:`_searched_counts`)."""
    if terms := _search_terms(session, f):
        return _searched_counts(session, f, terms, cap)
    matching = _where(select(Item.id), replace(f, drafts_of=None), with_status=False)

    def of(status: ItemStatus) -> Select:
        rows = matching.where(Item.status == status.value)
        if status == ItemStatus.draft and f.drafts_of is not None:
            return rows.where(_seen_draft(f.drafts_of))
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


def count_matching(session: Session, f: ItemFilter, *conditions: Any, cap: int) -> int:
    """How many items match the whole filter, its status included (and ``conditions`` and
    its chosen ids), counted up to ``cap``."""
    matching = _chosen(select(Item.id), f, conditions).limit(cap).subquery()
    return session.scalar(select(func.count()).select_from(matching)) or 0


def _searched_counts(session: Session, f: ItemFilter, terms: list[str], cap: int) -> StatusCounts:
    """Matches of a search per status, from one walk of its rarest word's index rows that
    stops after ``cap`` matches in all; past that every count is a lower bound (all capped).
    A bounded count per status would walk a common word's rows once per status."""
    query, item_id = _term_walk(
        _where(select(Item.status), f, with_status=False, terms_joined=True), terms
    )
    if session.get_bind().dialect.name == "sqlite":
        # In index order, so that SQLite walks the word's rows: with no statistics it would
        # scan the project's items and probe the word for each. PostgreSQL hashes the rows.
        query = query.order_by(item_id.desc())
    found = query.limit(cap + 1).subquery()
    rows = session.execute(select(found.c.status, func.count()).group_by(found.c.status)).all()
    counts = {status: n for status, n in rows}
    if sum(counts.values()) <= cap:
        return StatusCounts(counts=counts)
    largest = max(counts, key=lambda status: counts[status])
    counts[largest] -= 1  # the one match past the cap
    return StatusCounts(counts=counts, capped=frozenset(status.value for status in ItemStatus))


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
