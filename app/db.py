"""Engine, session factory and the one-unit-of-work-per-request dependency."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import orjson
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

# The largest value of PostgreSQL's ``integer``, the type of every id and position column: a
# cursor or id above it names no row (and above 2**63 SQLite cannot even compare it).
MAX_INTEGER = 2**31 - 1


def _json(value: object) -> str:
    # Keep CJK text readable in JSON columns (and searchable with LIKE on SQLite).
    return json.dumps(value, ensure_ascii=False)


def _from_json(text: str | bytes) -> object:
    """JSON columns read with orjson (a freeze reads 100k snapshots), or with the standard
    library for what orjson refuses and ``json.dumps`` may have written (NaN, huge integers)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(url: str) -> Engine:
    """An engine for either backend; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_pre_ping=True,
            json_serializer=_json,
            json_deserializer=_from_json,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin,
            # so SAVEPOINTs and rollbacks behave as on PostgreSQL.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Write requests take the write lock up front (BEGIN IMMEDIATE), so two writers
            # queue on the busy timeout instead of one failing on a stale read snapshot.
            mode = conn.get_execution_options().get("sqlite_begin", "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        json_serializer=_json,
        json_deserializer=_from_json,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def begin_for_write(session: Session) -> None:
    """Start the transaction as a writer (matters on SQLite only)."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """One unit of work: commit when the block succeeds, roll back when it raises, close."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def postgres_unreachable(url: str) -> str | None:
    """Why the PostgreSQL server at ``url`` cannot be used, or None when it answers (3 s at
    most)."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means unreachable
        return f"PostgreSQL at {url} is unreachable: {str(error).splitlines()[0]}"
    return None


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: commit when the handler returns, roll back on an
    exception."""
    session = request.app.state.session_factory()
    if request.method in WRITE_METHODS:
        begin_for_write(session)
    with transaction(session):
        yield session


# scope="function": commit as soon as the handler returns, before the response is sent, so a
# failed commit is an error response and the next request sees the write.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
