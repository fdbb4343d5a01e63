"""Bulk writes: COPY on PostgreSQL, one executemany INSERT elsewhere.

Imports write hundreds of thousands of rows. An INSERT, even batched, costs the server a parse
and a round trip per batch and the client a bind per value; COPY streams rows in one statement,
several times faster. The rows go through the caller's connection, so they belong to its
transaction (and savepoints) like any other write.

:func:`write` takes Python values and converts them as SQLAlchemy would. The import's rows
take the shorter way: :func:`copy_rows` and :func:`insert_rows` hand the driver values it takes
as they are (JSON already encoded by :func:`json_text`, timestamps through :func:`binder`), so no
per-value conversion runs between the row and the database.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any

import orjson
from psycopg import Copy
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Column, Table, insert, text
from sqlalchemy.orm import Session

_VARIABLES = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER  # parameters one SQLite statement may take


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
    :func:`write`, which returns none. The sequence is looked up once, not once a row (which
    costs the server ten times the ids themselves)."""
    query = text(
        "WITH sequence AS MATERIALIZED "
        "(SELECT pg_get_serial_sequence(:table, 'id')::regclass AS id) "
        "SELECT nextval(sequence.id) FROM sequence, generate_series(1, :n)"
    )
    return list(session.scalars(query, {"table": table.name, "n": count}))


def as_row(values: dict[str, Any], columns: Sequence[str]) -> tuple:
    return tuple(values[name] for name in columns)


def json_text(value: Any) -> str:
    """A JSON column's value, encoded for :func:`copy_rows` and :func:`insert_rows` by orjson,
    about five times faster than the standard library. What orjson refuses (integers past 64
    bits, lone surrogates) is encoded as the engine's own serializer does. (orjson writes NaN as
    null, where the standard library writes NaN: values dumped in pydantic's JSON mode, as
    item content is, already hold null there.)"""
    if not value and isinstance(value, list):
        return "[]"
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False)


def binder(session: Session, column: Column) -> Callable[[Any], Any]:
    """What turns a value into the one the session's dialect binds for ``column`` (a timestamp
    becomes a string in SQLite's format), for :func:`insert_rows` and :func:`copy_rows`."""
    dialect = session.get_bind().dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process or (lambda value: value)


def copy_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence]):
    """COPY rows whose values psycopg takes as they are (JSON as text: the server parses it
    into its column's type), PostgreSQL only."""
    with _copy(session, table, columns) as copy:
        for row in rows:
            copy.write_row(row)


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence]
) -> range:
    """INSERT rows whose values the driver takes as they are (SQLite), and the ids the rows
    received, in order.

    The rows go in by as few statements as SQLite's parameter limit allows (``VALUES (...),
    (...), ...``): a fifth less work than an executemany of one-row INSERTs, and SQLite runs a
    whole statement without the GIL, where an executemany takes it back for every row (and
    another thread holding it makes each take-back wait up to the switch interval).

    The transaction holds SQLite's write lock from its first write to its end, so no other
    connection inserts between these rows, and each takes the next rowid after the table's
    largest (ids stay far below 2**63, where SQLite would pick one at random): the rows' ids are
    the run that ends at the last statement's ``lastrowid``.
    """
    if not rows:
        return range(0)
    raw = session.connection().connection.driver_connection
    per_statement = max(1, raw.getlimit(_VARIABLES) // len(columns))
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    one = f"({', '.join('?' for _ in columns)})"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        cursor = raw.execute(head + ", ".join([one] * len(chunk)), list(chain.from_iterable(chunk)))
    return range(cursor.lastrowid - len(rows) + 1, cursor.lastrowid + 1)
