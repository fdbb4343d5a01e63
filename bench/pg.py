"""PostgreSQL for the benchmarks: a throwaway database per run, dropped even on Ctrl-C, and the
check that a server answers at all (benchmarks skip, and say why, when none does)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "STUDIO_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def fresh_database(log: Callable[[str], None]) -> Iterator[str]:
    name = f"studio_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    log(f"created database {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        log(f"dropped database {name}")


def postgres_unavailable() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means unreachable
        return f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {str(error).splitlines()[0]}"
    return None


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as plain libpq takes it (for psycopg.connect)."""
    return url.replace("postgresql+psycopg://", "postgresql://")
