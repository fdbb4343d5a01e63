"""JSON API for review decisions, reopening and the review queue."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.apidoc import ERRORS, PathId, QueryId
from app.auth.deps import ProjectReviewer
from app.db import DbSession
from app.items.schemas import ItemOut
from app.reviews import service
from app.reviews.service import QueueFilter

router = APIRouter(prefix="/api/v1", tags=["reviews"], responses=ERRORS)


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject", "request_changes"]
    version: int = Field(description="The item version you reviewed.")
    reason: str | None = None
    comment: str = Field(default="", max_length=5000)


class ReopenIn(BaseModel):
    reason: str
    comment: str = Field(default="", max_length=5000)
    link: str | None = Field(
        default=None,
        max_length=500,
        description="What flagged the item: a path in this app (/jobs/12) or an http(s) "
        "address, which pages show as text with its host. Anything else is refused (422).",
    )


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: int
    item_version: int
    reviewer_id: int
    decision: str
    reason: str | None
    comment: str
    created_at: datetime


@router.post("/items/{item_id}/review", response_model=ReviewOut, name="api_review")
def decide(item_id: PathId, body: DecisionIn, session: DbSession, user: ProjectReviewer):
    """Approve, reject or request changes on the version you reviewed."""
    return service.decide(session=session, item_id=item_id, reviewer=user, **body.model_dump())


@router.post("/items/{item_id}/reopen", response_model=ItemOut, name="api_reopen")
def reopen(item_id: PathId, body: ReopenIn, session: DbSession, user: ProjectReviewer):
    """Move an approved item back to submitted, with a reason."""
    return service.reopen(session=session, item_id=item_id, actor=user, **body.model_dump())


@router.post(
    "/projects/{project_id}/review/next", response_model=ItemOut | None, name="api_review_next"
)
def claim_next(
    project_id: PathId,
    session: DbSession,
    user: ProjectReviewer,
    kind: str | None = None,
    domain: str | None = None,
    author_id: QueryId = None,
    tag: str | None = None,
    reason: str | None = None,
):
    """Lease the next item to review (null when the queue is empty)."""
    return service.claim_next(
        session=session,
        reviewer=user,
        f=QueueFilter(
            project_id=project_id,
            kind=kind,
            domain=domain,
            author_id=author_id,
            tag=tag,
            reason=reason,
        ),
    )
