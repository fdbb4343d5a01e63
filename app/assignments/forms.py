"""Reading the assign form: which items (chosen ids, or every item matching the item list's
filters), the assignees and the due date. Bad values become InvalidInput for the form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.assignments.service import MAX_ITEMS
from app.core.kinds import ItemKind
from app.core.provenance import Origin
from app.core.status import ItemStatus
from app.db import MAX_INTEGER
from app.errors import InvalidInput
from app.i18n import N_
from app.items import repository
from app.items.repository import ItemFilter

KINDS = tuple(ItemKind)
# The item list's filter parameters the assign page carries along (app.items.routes).
FILTER_KEYS = ("q", "kind", "status", "domain", "tag", "author", "difficulty", "language",
               "origin", "created_from", "created_to")  # fmt: skip
TEXT_LIMITS = {"q": 200, "domain": 100, "tag": 100, "language": 16}


def _int(value: str, low: int, high: int) -> int | None:
    return int(value) if value.isdigit() and low <= int(value) <= high else None


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def item_filter(project_id: int, params: Mapping[str, str]) -> tuple[ItemFilter, dict[str, str]]:
    """The item list's filter from query or form values, and the values it kept (to carry in
    links and hidden fields). What does not parse is left out, as the list ignores it."""
    kept: dict[str, str] = {}
    for key in FILTER_KEYS:
        value = (params.get(key) or "").strip()
        if value and len(value) <= TEXT_LIMITS.get(key, 32):
            kept[key] = value
    if kept.get("kind") not in KINDS:
        kept.pop("kind", None)
    if kept.get("status") not in {s.value for s in ItemStatus}:
        kept.pop("status", None)
    if kept.get("origin") not in {o.value for o in Origin}:
        kept.pop("origin", None)
    author = _int(kept.get("author", ""), 1, MAX_INTEGER)
    difficulty = _int(kept.get("difficulty", ""), 1, 5)
    created_from = _date(kept.get("created_from", ""))
    created_to = _date(kept.get("created_to", ""))
    for key, value in (("author", author), ("difficulty", difficulty),
                       ("created_from", created_from), ("created_to", created_to)):  # fmt: skip
        if value is None:
            kept.pop(key, None)
    f = ItemFilter(
        project_id=project_id,
        kind=kept.get("kind"),
        status=kept.get("status"),
        domain=kept.get("domain"),
        tag=kept.get("tag"),
        author_id=author,
        difficulty=difficulty,
        language=kept.get("language"),
        origin=kept.get("origin"),
        created_from=created_from,
        created_to=created_to,
        q=kept.get("q", ""),
        sort="oldest",
    )
    return f, kept


def matching_count(session: Session, f: ItemFilter) -> int:
    """How many items match (counted up to just past MAX_ITEMS)."""
    return repository.count_matching(session, f, cap=MAX_ITEMS + 1)


def matching_ids(session: Session, f: ItemFilter) -> list[int]:
    """Every matching item's id; more than MAX_ITEMS is refused."""
    rows, more = repository.page(session, replace(f, sort="oldest"), limit=MAX_ITEMS)
    if more:
        raise InvalidInput(
            N_("At most %(max)s items at once; narrow the selection."),
            errors={"items": N_("Too many items.")},
            max=MAX_ITEMS,
        )
    return [row.id for row in rows]


def due_date(value: str) -> date | None:
    """An optional YYYY-MM-DD date; anything else is invalid input on the field."""
    value = value.strip()
    if not value:
        return None
    parsed = _date(value)
    if parsed is None:
        raise InvalidInput(
            N_("Please fix the highlighted fields."),
            errors={"due_date": N_("A date like 2026-12-31, or empty.")},
        )
    return parsed


@dataclass
class AssignForm:
    """What the assign form shows again after a refusal."""

    task: str = "write"
    user_ids: list[int] = field(default_factory=list)
    due_date: str = ""


async def form_data(request: Request) -> FormData:
    """The submitted form, parsed once (dependency for sync handlers)."""
    return await request.form()
