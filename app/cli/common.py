"""What every `studio` command shares: a unit of work, error exit, the var folder."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import begin_for_write, make_engine, make_session_factory, transaction
from app.errors import DomainError


@contextmanager
def unit_of_work(*, write: bool = False) -> Iterator[Session]:
    """One transaction for a CLI command, committed when the block succeeds. A domain error
    rolls it back and ends the command with its message and exit status 1.

    ``write``: the command reads, then writes. On SQLite its transaction then starts as a
    writer, so it waits its turn behind a running server's writes (the busy timeout) instead
    of failing with "database is locked" when its read snapshot went stale meanwhile."""
    engine = make_engine(get_settings().resolved_database_url)
    try:
        with transaction(make_session_factory(engine)()) as session:
            if write:
                begin_for_write(session)
            yield session
    except DomainError as error:
        fail(error)
    finally:
        engine.dispose()


def fail(error: DomainError) -> None:
    click.echo(f"error: {error.text}", err=True)
    sys.exit(1)


def ensure_var_dir() -> None:
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings.resolved_artifacts_dir.mkdir(parents=True, exist_ok=True)
