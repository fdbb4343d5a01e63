"""Bulk writes: COPY on PostgreSQL, one executemany INSERT elsewhere.

Imports write hundreds of thousands of rows. An INSERT, even batched, costs the server a parse
and a round trip per batch and the client a bind per value; COPY streams rows in one statement,
several times faster. The rows go through the caller's connection, so they belong to its
transaction (and savepoints) like any other write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from psycopg import Copy
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.orm import Session


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def write(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert ``rows`` (tuples in the order of ``columns``); JSON columns take Python values."""
    rows = list(rows)
    if not rows:
        return 0
    if not is_postgresql(session):
        session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return len(rows)
    json_at = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    with _copy(session, table, columns) as copy:
        for row in rows:
            if json_at:
                row = list(row)
                for i in json_at:
                    row[i] = Jsonb(row[i], dumps=_dumps)
            copy.write_row(row)
    return len(rows)


_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dumps(value: Any) -> str:
    """JSON for a JSONB value (the server normalises it, so any spelling will do): most of an
    imported item's lists are empty, and skipping the encoder for them halves its cost."""
    if not value and isinstance(value, list):
        return "[]"
    return _compact(value)


def copy_text(session: Session, table: Table, columns: Sequence[str], text: str) -> None:
    """COPY rows already in PostgreSQL's text format (tab-separated, newline-terminated): for
    values that need no escaping (numbers, runs of word characters), where formatting lines beats
    adapting each value (PostgreSQL only)."""
    with _copy(session, table, columns) as copy:
        copy.write(text)


@contextmanager
def _copy(session: Session, table: Table, columns: Sequence[str]) -> Iterator[Copy]:
    """A COPY FROM STDIN on the session's own connection (inside its transaction)."""
    raw = session.connection().connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        yield copy


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` fresh primary keys from the table's sequence (PostgreSQL), for rows written by
    :func:`write`, which returns none."""
    query = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")
    return list(session.scalars(query, {"table": table.name, "n": count}))


def as_row(values: dict[str, Any], columns: Sequence[str]) -> tuple:
    return tuple(values[name] for name in columns)
