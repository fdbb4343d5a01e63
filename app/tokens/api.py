"""JSON API for API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.apidoc import ERRORS, PathId
from app.auth.deps import Admin
from app.db import DbSession
from app.tokens import service

router = APIRouter(prefix="/api/v1", tags=["tokens"], responses=ERRORS)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    scope: Literal["worker", "user"]
    prefix: str
    user_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scope: Literal["worker", "user"] = "worker"


class TokenIssued(TokenOut):
    token: str = Field(description="The secret value; shown this once and never again.")


@router.get("/tokens", response_model=list[TokenOut], name="api_tokens")
def list_tokens(session: DbSession, user: Admin) -> list[TokenOut]:
    """List tokens (never their values)."""
    return [TokenOut.model_validate(t) for t in service.list_tokens(session=session)]


@router.post("/tokens", response_model=TokenIssued, status_code=201, name="api_tokens_create")
def create_token(body: TokenCreate, session: DbSession, user: Admin) -> TokenIssued:
    """Create a token; a user token acts as the caller."""
    issued = service.create_token(
        session=session, name=body.name, scope=body.scope, owner=user, actor=user
    )
    out = TokenOut.model_validate(issued.token).model_dump()
    return TokenIssued(**out, token=issued.raw)


@router.delete("/tokens/{token_id}", response_model=TokenOut, name="api_tokens_revoke")
def revoke_token(token_id: PathId, session: DbSession, user: Admin) -> TokenOut:
    """Revoke a token; it stops working at once."""
    return TokenOut.model_validate(
        service.revoke_token(session=session, token_id=token_id, actor=user)
    )
