"""Dataset versions: frozen from a filter, pinned to revisions, split, hashed, checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Text, and_, cast, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.i18n import N_
from app.models import (
    DatasetVersion,
    DatasetVersionItem,
    Item,
    ItemRevision,
)


@dataclass
class VersionFilter:
    statuses: list[str] = field(default_factory=lambda: ["approved"])
    kinds: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    # 'yes': only items whose output a model drafted; 'no': none of them; '': either.
    drafted: str = ""
    created_from: date | None = None
    created_to: date | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if v}
        for key in ("created_from", "created_to"):
            if key in data:
                data[key] = data[key].isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionFilter:
        """The filter ``as_dict`` wrote (as a queued freeze stores it)."""
        values = dict(data)
        for key in ("created_from", "created_to"):
            if values.get(key):
                values[key] = date.fromisoformat(values[key])
        return cls(**values)


def matching(project_id: int, f: VersionFilter):
    """The filter as a query of item ids (kept as a subquery: no bind limit on size)."""
    query = select(Item.id).where(Item.project_id == project_id)
    if f.statuses:
        query = query.where(Item.status.in_(f.statuses))
    if f.kinds:
        query = query.where(Item.kind.in_(f.kinds))
    if f.domains:
        query = query.where(Item.domain.in_(f.domains))
    if f.languages:
        query = query.where(Item.language.in_(f.languages))
    if f.origins:
        query = query.where(Item.origin.in_(f.origins))
    if f.drafted in ("yes", "no"):
        drafted = Item.drafted_job_id.is_not(None)
        query = query.where(drafted if f.drafted == "yes" else ~drafted)
    if f.created_from:
        query = query.where(Item.created_at >= datetime.combine(f.created_from, time(), UTC))
    if f.created_to:
        query = query.where(
            Item.created_at < datetime.combine(f.created_to + timedelta(days=1), time(), UTC)
        )
    for tag in f.tags:
        # The tag list is small JSON on both backends: match the tag's JSON string in its text,
        # with LIKE's wildcards taken literally.
        query = query.where(
            func.cast(Item.tags, Text).contains(
                json.dumps(tag, ensure_ascii=False), autoescape=True
            )
        )
    return query


class Pinned(NamedTuple):
    """The revision a version pins, as plain values (no ORM objects for 100k rows)."""

    id: int
    version: int
    content_hash: str
    snapshot: dict[str, Any]


def latest_revisions(session: Session, ids_query) -> list[tuple[int, str, int | None, Pinned]]:
    """(item id, kind, author id, latest revision) for every matching item, in id order."""
    latest = (
        select(ItemRevision.item_id, func.max(ItemRevision.version).label("v"))
        .where(ItemRevision.item_id.in_(ids_query))
        .group_by(ItemRevision.item_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Item.id,
            Item.kind,
            Item.author_id,
            ItemRevision.id,
            ItemRevision.version,
            ItemRevision.content_hash,
            ItemRevision.snapshot,
        )
        .join(latest, latest.c.item_id == Item.id)
        .join(
            ItemRevision,
            and_(ItemRevision.item_id == latest.c.item_id, ItemRevision.version == latest.c.v),
        )
        .order_by(Item.id)
    )
    return [
        (item_id, kind, author_id, Pinned(*pinned)) for item_id, kind, author_id, *pinned in rows
    ]


def pinned(
    session: Session,
    version_id: int,
    split: str | None = None,
    *,
    after: int = -1,
    limit: int | None = None,
):
    """(DatasetVersionItem, ItemRevision) rows in split order, streamed; ``after`` a position
    and at most ``limit`` rows give one page of a split."""
    query = (
        select(DatasetVersionItem, ItemRevision)
        .join(ItemRevision, ItemRevision.id == DatasetVersionItem.revision_id)
        .where(DatasetVersionItem.version_id == version_id, DatasetVersionItem.position > after)
        .order_by(DatasetVersionItem.split.desc(), DatasetVersionItem.position)
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    if split:
        query = query.where(DatasetVersionItem.split == split)
    return session.execute(query)


PINNED_FETCH_ROWS = 1000  # rows a round trip (SQLite, or a libpq without chunked streaming)


def pinned_snapshots(
    session: Session, version_id: int, split: str | None = None
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(item id, revision, snapshot) in split order, streamed: what an export reads.

    The same rows as :func:`pinned`, as plain columns: building two ORM objects a row was most
    of an export's time. The snapshot comes as JSON text and is parsed here (the parse the JSON
    type does, without psycopg's slower JSONB path), so the dict is the same. On PostgreSQL the
    rows arrive as one stream in chunks (psycopg ``stream``), so the server produces the next
    chunk while this process works on the last; memory stays that of a chunk.

    Read it to the end, or close it (``contextlib.closing``), before the session runs anything
    else: psycopg holds the connection for the whole stream, and a statement in between would
    wait for it forever. Closing it early reads (and drops) the rest of the rows.
    """
    query = (
        select(
            DatasetVersionItem.item_id,
            DatasetVersionItem.revision,
            cast(ItemRevision.snapshot, Text),
        )
        .join(ItemRevision, ItemRevision.id == DatasetVersionItem.revision_id)
        .where(DatasetVersionItem.version_id == version_id)
        .order_by(DatasetVersionItem.split.desc(), DatasetVersionItem.position)
    )
    if split:
        query = query.where(DatasetVersionItem.split == split)
    if session.autoflush:  # as the ORM's own select would
        session.flush()
    connection = session.connection()
    loads = json.loads
    if connection.dialect.driver == "psycopg":
        with closing(_psycopg_stream(connection, query)) as stream:
            for item_id, revision, text in stream:
                yield item_id, revision, loads(text)
        return
    streaming = connection.execution_options(stream_results=True, yield_per=PINNED_FETCH_ROWS)
    with streaming.execute(query) as result:
        for batch in result.partitions():
            for item_id, revision, text in batch:
                yield item_id, revision, loads(text)


def _psycopg_stream(connection: Connection, query) -> Iterator[tuple[Any, ...]]:
    """The query's rows through psycopg's ``Cursor.stream``, in the session's transaction.

    A server-side cursor answers one FETCH at a time, the server idle while the client works;
    a stream keeps both busy. Chunks need libpq 17 (psycopg's binary wheel has it); an older
    one streams row by row. Stopped early, psycopg would cancel the query and so abort the
    transaction; the rest is read instead, so the session stays usable.
    """
    import psycopg

    compiled = query.compile(dialect=connection.dialect)
    size = PINNED_FETCH_ROWS if psycopg.pq.version() >= 170000 else 1
    cursor = connection.connection.driver_connection.cursor()
    rows = cursor.stream(str(compiled), compiled.params, size=size)
    try:
        # Not ``yield from``: it would hand a close on to psycopg, which cancels the query.
        for row in rows:  # noqa: UP028
            yield row
    finally:
        for _ in rows:
            pass
        cursor.close()


def get_version(*, session: Session, version_id: int) -> DatasetVersion:
    version = session.get(DatasetVersion, version_id)
    if version is None:
        raise NotFound(N_("No dataset version with id %(id)s."), id=version_id)
    return version


def list_versions(*, session: Session, project_id: int) -> list[DatasetVersion]:
    return list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.project_id == project_id)
            .order_by(DatasetVersion.id.desc())
        )
    )


def diff(session: Session, old_id: int, new_id: int) -> dict[str, list[int]]:
    """Items added, removed, and changed (another revision) between two versions of one
    project; a version of another project is not found."""
    old_version = get_version(session=session, version_id=old_id)
    if old_version.project_id != get_version(session=session, version_id=new_id).project_id:
        raise NotFound(N_("No dataset version with id %(id)s."), id=old_id)

    def pins(version_id):
        return dict(
            session.execute(
                select(DatasetVersionItem.item_id, DatasetVersionItem.revision_id).where(
                    DatasetVersionItem.version_id == version_id
                )
            ).all()
        )

    old, new = pins(old_id), pins(new_id)
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(i for i in set(old) & set(new) if old[i] != new[i]),
    }
