"""The balance report's counts, from grouped queries: no item is read into Python, so a project
of 100,000 items costs six index scans (one per dimension), not 100,000 objects.

A project counts its items as they are now; a dataset version counts what it pinned: the
kind it recorded, the domain, language and difficulty of the pinned revision's snapshot, and
the item's author and origin (which no edit changes)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.models import DatasetVersion, DatasetVersionItem, Item, ItemRevision, User
from app.stats import balance
from app.stats.balance import BalanceReport, GroupCounts, Thresholds

# Which of a project's items are counted: the approved ones (what a version is frozen from by
# default), or every item but the rejected ones (to see where the work in progress goes).
Scope = Literal["approved", "not_rejected"]
SCOPES: tuple[Scope, ...] = ("approved", "not_rejected")

_ITEM_COLUMNS = {
    "kind": Item.kind,
    "domain": Item.domain,
    "language": Item.language,
    "annotator": Item.author_id,
    "provenance": Item.origin,
    "difficulty": Item.difficulty,
}


def project_query(project_id: int, scope: Scope, dimension: str) -> Select:
    """(value, items) of one dimension over the project's items in ``scope``."""
    column = _ITEM_COLUMNS[dimension]
    counted = Item.status == "approved" if scope == "approved" else Item.status != "rejected"
    return (
        select(column, func.count()).where(Item.project_id == project_id, counted).group_by(column)
    )


# A version's dimensions by where they are read: each source is joined and read once, its
# dimensions grouped together (a snapshot's JSON is parsed once, not once per dimension).
VERSION_SOURCES = {
    "pins": ("kind",),
    "revisions": ("domain", "language", "difficulty"),
    "items": ("annotator", "provenance"),
}


def version_query(version_id: int, source: str) -> Select:
    """(split, *values, items) of the source's dimensions over the version's pinned items."""
    pinned = DatasetVersionItem
    rows = select(pinned.split.label("split")).where(pinned.version_id == version_id)
    if source == "pins":
        rows = rows.add_columns(pinned.kind.label("kind"))
    elif source == "revisions":
        snapshot = ItemRevision.snapshot
        rows = rows.join(ItemRevision, ItemRevision.id == pinned.revision_id).add_columns(
            snapshot["domain"].as_string().label("domain"),
            snapshot["language"].as_string().label("language"),
            snapshot["difficulty"].as_integer().label("difficulty"),
        )
    else:
        rows = rows.join(Item, Item.id == pinned.item_id).add_columns(
            Item.author_id.label("annotator"), Item.origin.label("provenance")
        )
    # Grouped outside: PostgreSQL would not match a JSON path in GROUP BY to the one in SELECT
    # (each binds its key as a parameter of its own).
    inner = rows.subquery()
    columns = [inner.c.split, *(inner.c[name] for name in VERSION_SOURCES[source])]
    return select(*columns, func.count()).group_by(*columns)


def project_report(
    *, session: Session, project_id: int, thresholds: Thresholds, scope: Scope = "approved"
) -> BalanceReport:
    counts: dict[str, GroupCounts] = {
        dimension: {
            value: {None: n}
            for value, n in session.execute(project_query(project_id, scope, dimension))
        }
        for dimension in balance.DIMENSIONS
    }
    return balance.build(counts, thresholds, people=_people(session, counts["annotator"]))


def version_report(
    *, session: Session, version: DatasetVersion, thresholds: Thresholds
) -> BalanceReport:
    found: dict[str, defaultdict] = {d: defaultdict(Counter) for d in balance.DIMENSIONS}
    for source, dimensions in VERSION_SOURCES.items():
        for split, *values, n in session.execute(version_query(version.id, source)):
            for dimension, value in zip(dimensions, values, strict=True):
                found[dimension][value][split] += n
    counts: dict[str, GroupCounts] = dict(found)
    return balance.build(
        counts, thresholds, people=_people(session, counts["annotator"]), splits=True
    )


def _people(session: Session, authors: GroupCounts) -> dict[int, tuple[str, str]]:
    """The display name and email of each author counted."""
    ids = [a for a in authors if isinstance(a, int)]
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.email).where(User.id.in_(ids)))
    return {user_id: (name or email, email) for user_id, name, email in rows}
