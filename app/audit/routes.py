"""The audit trail for admins: filters, paging, CSV export."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from app.audit import export, service
from app.audit.service import AuditFilter
from app.auth.deps import Admin
from app.db import MAX_INTEGER, DbSession
from app.web import render

router = APIRouter(prefix="/admin")
PAGE = 100


def _filter(
    actor: Annotated[str, Query(max_length=320)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    entity_type: Annotated[str, Query(max_length=32)] = "",
    entity_id: Annotated[str, Query(max_length=64)] = "",
    date_from: Annotated[date | None, Query()] = None,
    date_to: Annotated[date | None, Query()] = None,
) -> AuditFilter:
    return AuditFilter(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        date_from=date_from,
        date_to=date_to,
    )


Filter = Annotated[AuditFilter, Depends(_filter)]


@router.get("/audit", name="audit")
def audit_page(
    request: Request,
    session: DbSession,
    user: Admin,
    f: Filter,
    before: Annotated[int | None, Query(ge=1, le=MAX_INTEGER)] = None,
):
    """Audit events, newest first, with filters."""
    page = service.page(session=session, f=f, before=before, size=PAGE)
    return render(
        request,
        "audit/list.html",
        {
            "events": page.events,
            "next_before": page.next_before,
            "actions": page.actions,
            "params": request.query_params,
        },
    )


@router.get("/audit.csv", name="audit_csv")
def audit_csv(session: DbSession, user: Admin, f: Filter):
    """The filtered audit trail as CSV, streamed."""
    events = service.all_events(session=session, f=f)
    return StreamingResponse(
        export.audit_csv(events),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
