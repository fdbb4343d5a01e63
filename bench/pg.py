"""PostgreSQL for the benchmarks: a throwaway database per run, dropped even on Ctrl-C, and the
check that a server answers at all (benchmarks skip, and say why, when none does)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from app.db import postgres_unreachable

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
    return postgres_unreachable(PG_ADMIN_URL)


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as plain libpq takes it (for psycopg.connect)."""
    return url.replace("postgresql+psycopg://", "postgresql://")
