"""The audit trail for admins: filters, paging, CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select

from app.auth.deps import Admin
from app.db import DbSession
from app.models import AuditEvent
from app.web import render

router = APIRouter(prefix="/admin")
PAGE = 100


def _query(actor, action, entity_type, entity_id, date_from, date_to) -> Select:
    query = select(AuditEvent)
    if actor:
        query = query.where(AuditEvent.actor_label == actor.strip().lower())
    if action:
        query = query.where(AuditEvent.action == action)
    if entity_type:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        query = query.where(AuditEvent.entity_id == entity_id)
    if date_from:
        query = query.where(AuditEvent.at >= datetime.combine(date_from, time(), UTC))
    if date_to:
        query = query.where(
            AuditEvent.at < datetime.combine(date_to + timedelta(days=1), time(), UTC)
        )
    return query


@router.get("/audit", name="audit")
def audit_page(
    request: Request,
    session: DbSession,
    user: Admin,
    actor: Annotated[str, Query(max_length=320)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    entity_type: Annotated[str, Query(max_length=32)] = "",
    entity_id: Annotated[str, Query(max_length=64)] = "",
    date_from: Annotated[date | None, Query()] = None,
    date_to: Annotated[date | None, Query()] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
):
    """Audit events, newest first, with filters."""
    query = _query(actor, action, entity_type, entity_id, date_from, date_to)
    if before:
        query = query.where(AuditEvent.id < before)
    rows = list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(PAGE + 1)))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    actions = list(
        session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    )
    return render(
        request,
        "audit/list.html",
        {
            "events": rows,
            "next_before": rows[-1].id if more else None,
            "actions": actions,
            "params": request.query_params,
        },
    )


@router.get("/audit.csv", name="audit_csv")
def audit_csv(
    session: DbSession,
    user: Admin,
    actor: Annotated[str, Query(max_length=320)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    entity_type: Annotated[str, Query(max_length=32)] = "",
    entity_id: Annotated[str, Query(max_length=64)] = "",
    date_from: Annotated[date | None, Query()] = None,
    date_to: Annotated[date | None, Query()] = None,
):
    """The filtered audit trail as CSV, streamed."""
    query = _query(actor, action, entity_type, entity_id, date_from, date_to)
    rows = session.execute(query.order_by(AuditEvent.id)).scalars().all()

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(
            ["id", "at", "actor", "action", "entity_type", "entity_id", "before", "after"]
        )
        for e in rows:
            writer.writerow(
                [
                    e.id,
                    e.at.isoformat(),
                    e.actor_label,
                    e.action,
                    e.entity_type,
                    e.entity_id or "",
                    _json(e.before),
                    _json(e.after),
                ]
            )
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


def _json(value) -> str:
    import json

    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
