"""Row locks for read-check-write steps, the same on both backends (no web imports, so
services and the CLI can use it)."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

Row = TypeVar("Row")


def locked(session: Session, model: type[Row], row_id: int) -> Row | None:
    """The row, locked for this transaction and refreshed, so checks see the latest; None
    when there is no such row.

    PostgreSQL takes a row lock (SELECT … FOR UPDATE); SQLite has none, but its writers are
    already serialized by BEGIN IMMEDIATE (app.db.begin_for_write)."""
    return session.scalar(
        select(model)
        .where(model.id == row_id)  # type: ignore[attr-defined]
        .with_for_update()
        .execution_options(populate_existing=True)
    )
