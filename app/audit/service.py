"""The audit trail: every state change writes exactly one event; admins page and export
it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.models import AuditEvent, User


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    entity_type: str,
    entity_id: object = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_label=actor_label or (actor.email if actor else "system"),
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        before=before,
        after=after,
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class AuditFilter:
    """Which events to show: each field narrows the trail when set."""

    actor: str = ""
    action: str = ""
    entity_type: str = ""
    entity_id: str = ""
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_before: int | None  # the id to pass as ``before`` for the next page, None at the end
    actions: list[str]  # every action in the trail, for the filter's choices


def _filtered(f: AuditFilter) -> Select:
    query = select(AuditEvent)
    if f.actor:
        query = query.where(AuditEvent.actor_label == f.actor.strip().lower())
    if f.action:
        query = query.where(AuditEvent.action == f.action)
    if f.entity_type:
        query = query.where(AuditEvent.entity_type == f.entity_type)
    if f.entity_id:
        query = query.where(AuditEvent.entity_id == f.entity_id)
    if f.date_from:
        query = query.where(AuditEvent.at >= datetime.combine(f.date_from, time(), UTC))
    if f.date_to:
        query = query.where(
            AuditEvent.at < datetime.combine(f.date_to + timedelta(days=1), time(), UTC)
        )
    return query


def page(
    *, session: Session, f: AuditFilter, before: int | None = None, size: int = 100
) -> AuditPage:
    """One page of matching events, newest first, older than the event ``before``."""
    query = _filtered(f)
    if before:
        query = query.where(AuditEvent.id < before)
    rows = list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    actions = list(
        session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    )
    return AuditPage(events=rows, next_before=rows[-1].id if more else None, actions=actions)


def all_events(*, session: Session, f: AuditFilter) -> Sequence[AuditEvent]:
    """Every matching event, oldest first (for the CSV export)."""
    return session.scalars(_filtered(f).order_by(AuditEvent.id)).all()
