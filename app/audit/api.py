"""JSON API for the audit trail: the admin page's filters, a page at a time."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from app.apidoc import ERRORS
from app.audit import service
from app.audit.service import AuditFilter
from app.auth.deps import Admin
from app.db import MAX_INTEGER, DbSession

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=ERRORS)

# ``date_to`` is read as "before the next day": the last representable day has none.
LAST_DAY = date(9999, 12, 30)


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_id: int | None = Field(description="Null for the system and for trainer workers.")
    actor_label: str = Field(description="The actor's email when it acted, or 'system'.")
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPageOut(BaseModel):
    events: list[AuditEventOut] = Field(description="Newest first.")
    next_cursor: int | None = Field(
        description="Pass it as ``after`` for the next page; null at the end."
    )
    actions: list[str] = Field(description="Every action in the trail, for the filter.")


def _filter(
    actor: Annotated[str, Query(max_length=320, description="The actor's email.")] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    entity_type: Annotated[str, Query(max_length=32)] = "",
    entity_id: Annotated[str, Query(max_length=64)] = "",
    date_from: Annotated[
        date | None, Query(le=LAST_DAY, description="From this day (UTC).")
    ] = None,
    date_to: Annotated[
        date | None, Query(le=LAST_DAY, description="Up to and including this day (UTC).")
    ] = None,
) -> AuditFilter:
    return AuditFilter(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        date_from=date_from,
        date_to=date_to,
    )


@router.get("/audit", response_model=AuditPageOut, name="api_audit")
def audit_events(
    session: DbSession,
    user: Admin,
    f: Annotated[AuditFilter, Depends(_filter)],
    after: Annotated[
        int | None, Query(ge=1, le=MAX_INTEGER, description="The previous page's next_cursor.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPageOut:
    """Audit events, newest first, narrowed by the filters the admin page offers."""
    page = service.page(session=session, f=f, before=after, size=limit)
    return AuditPageOut(
        events=[AuditEventOut.model_validate(e) for e in page.events],
        next_cursor=page.next_before,
        actions=page.actions,
    )
