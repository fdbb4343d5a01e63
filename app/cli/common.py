"""What every `studio` command shares: a unit of work, error exit, the var folder."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import make_engine, make_session_factory
from app.errors import DomainError


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction for a CLI command, committed when the block succeeds."""
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    session = make_session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        engine.dispose()


def fail(error: DomainError) -> None:
    click.echo(f"error: {error.text}", err=True)
    sys.exit(1)


def ensure_var_dir() -> None:
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings.resolved_artifacts_dir.mkdir(parents=True, exist_ok=True)
