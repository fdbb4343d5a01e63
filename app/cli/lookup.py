"""What the reading and acting commands share: a project named by id or name, the person who
acts (``--as EMAIL``, else the first admin), ``--json`` output and the plain-text figures."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.i18n import N_
from app.models import Project, User

actor_option = click.option(
    "--as", "actor_email", default=None, metavar="EMAIL", help="Who acts (default: first admin)."
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="One JSON document on stdout, for scripts."
)


def project_of(session: Session, ref: str) -> Project:
    """A project by id (all digits) or by its exact name."""
    by = Project.id == int(ref) if ref.isdecimal() and len(ref) < 10 else Project.name == ref
    project = session.scalar(select(Project).where(by))
    if project is None:
        raise NotFound(N_("No project %(ref)s."), ref=ref)
    return project


def actor_of(session: Session, email: str | None) -> User:
    """The person named by ``--as``, or the first admin when none is named."""
    from app.users import service as users

    if email:
        return users.find_by_email(session=session, email=email)
    actor = session.scalar(select(User).where(User.role == "admin").order_by(User.id))
    if actor is None:
        raise NotFound(N_("No admin to act as; pass --as EMAIL."))
    return actor


def emit_json(data: Any) -> None:
    """``data`` as one JSON document on stdout (dates as ISO 8601 text)."""
    click.echo(json.dumps(data, default=_plain, ensure_ascii=False, indent=2))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def number(value: float | None, digits: int = 3) -> str:
    """A figure for a table: rounded, and ``-`` where there is none."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def when(moment: datetime | None) -> str:
    """A moment to the second, ``-`` when it has not happened."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def table(rows: list[list[str]]) -> None:
    """Rows of cells in aligned columns (the last column is not padded)."""
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


def excerpt(text: str | None, limit: int = 70) -> str:
    """One line of at most ``limit`` characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
