"""Item queries: filters, search through the term index, keyset pagination, counts."""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import (
    Boolean,
    ColumnElement,
    FunctionElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import InternalTraversal

from app.core.kinds import ItemStatus
from app.items.indexing import query_terms
from app.models import Item, SearchPosting, SearchTerm

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


def _where(
    session: Session, query: Select, f: ItemFilter, *, with_status: bool = True, paged: bool = True
) -> Select:
    query = query.where(Item.project_id == f.project_id)
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
        if exact:
            # Probing items in page order pays only while each probe is a hash lookup: with a
            # substring to check as well (CJK), the rarest term leads.
            query = query.where(*_has_terms(session, exact, paged=paged and not verify))
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


# A term found in more items than this never leads a search. Leading, each of its items is
# read by id and the matches sorted: ~10 µs an item. Probed, items are read in page order and
# looked up in a hash of the term's ids: ~2 µs an item read, and a page of 51 at a density of
# d reads 51/d of them. At 100,000 items the two meet near 1,000 occurrences; a 24,000-item
# term took 200 ms leading and 20 ms probed. The rarest term under the mark leads, so a rare
# word finds its few items without reading the project.
LEADING_TERM_MAX = 1_000


class HasTerm(ColumnElement[bool]):
    """The item contains a term: by the rows of items saved or edited (``search_terms``), or by
    the posting lists of imported items not edited since (``search_postings``), which each
    backend reads its own way, so the subquery is built when the statement is compiled.

    ``lead``: a plain ``IN`` the planner turns into a join that starts from the term's items;
    otherwise the test is wrapped so it stays a filter probed per item (PostgreSQL cannot guess
    how many items an unnested list holds, and would start from a frequent term's items)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # no "= 1" after it where booleans are integers
    _traverse_internals = [
        ("term", InternalTraversal.dp_clauseelement),
        ("lead", InternalTraversal.dp_boolean),
    ]

    def __init__(self, term: str, *, lead: bool = True) -> None:
        self.term = bindparam(None, term, type_=String())
        self.lead = lead


class ListLength(FunctionElement[int]):
    """How many ids a posting list holds."""

    inherit_cache = True
    type = Integer()


@compiles(ListLength)
def _list_length(element: ListLength, compiler, **kw) -> str:
    name = "cardinality" if compiler.dialect.name == "postgresql" else "json_array_length"
    return f"{name}({compiler.process(element.clauses, **kw)})"


@compiles(HasTerm)
def _has_term(element: HasTerm, compiler, **kw) -> str:
    if compiler.dialect.name == "postgresql":
        posted = select(func.unnest(SearchPosting.item_ids))
    else:
        listed = func.json_each(SearchPosting.item_ids).table_valued("value")
        posted = select(listed.c.value).select_from(SearchPosting).join(listed, true())
    own = select(SearchTerm.item_id).where(SearchTerm.term == element.term)
    test = Item.id.in_(union_all(own, posted.where(SearchPosting.term == element.term)))
    if not element.lead:
        test = func.coalesce(test, false())
    # Lists name an item only while it is listed: an edited item's ids in them are stale.
    return compiler.process(and_(test, or_(Item.search_listed, Item.id.in_(own))), **kw)


def term_frequencies(session: Session, terms: list[str]) -> Counter[str]:
    """In how many items each term occurs (all projects): two index range reads."""
    found: Counter[str] = Counter()
    own = select(SearchTerm.term, func.count()).where(SearchTerm.term.in_(terms))
    listed = select(SearchPosting.term, func.sum(ListLength(SearchPosting.item_ids))).where(
        SearchPosting.term.in_(terms)
    )
    for query in (own.group_by(SearchTerm.term), listed.group_by(SearchPosting.term)):
        for term, count in session.execute(query):
            found[term] += count or 0
    return found


def _has_terms(session: Session, terms: list[str], *, paged: bool) -> list[HasTerm]:
    """One test per term; the rarest leads, unless a page (not a count, which reads every
    match) is better served by probing a frequent term per item in page order."""
    counts = term_frequencies(session, terms)
    rarest = min(terms, key=lambda term: counts[term])
    lead = counts[rarest] <= LEADING_TERM_MAX or not paged
    return [HasTerm(term, lead=lead and term == rarest) for term in terms]


def _text():
    from sqlalchemy import Text

    return Text()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def _decode(cursor: str) -> list:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, json.JSONDecodeError):
        return []


def page(session: Session, f: ItemFilter, *, cursor: str | None = None, limit: int = 50):
    """One page of items and the cursor for the next one (keyset, never OFFSET)."""
    sort = f.sort if f.sort in SORTS else "newest"
    query = _where(session, select(Item), f)
    after = _decode(cursor) if cursor else []
    if sort == "oldest":
        if after:
            query = query.where(Item.id > after[0])
        query = query.order_by(Item.id.asc())
    elif sort == "updated":
        if len(after) == 2:
            stamp = datetime.fromisoformat(after[0])
            query = query.where(
                or_(Item.updated_at < stamp, and_(Item.updated_at == stamp, Item.id < after[1]))
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

    One statement of one bounded subquery per status, each an index range scan."""
    matching = _where(session, select(Item.id), f, with_status=False, paged=False)
    columns = [
        select(func.count())
        .select_from(matching.where(Item.status == status.value).limit(cap + 1).subquery())
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


__all__ = ["ItemFilter", "StatusCounts", "counts_by_status", "domains", "page", "replace"]
