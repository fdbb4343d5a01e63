"""API tokens: random, shown once, stored as SHA-256 with an indexed prefix."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.models import ApiToken, TokenScope, User
from app.models.base import utcnow
from app.security import new_api_token, same, sha256, token_prefix


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    raw: str


def create_token(
    *, session: Session, name: str, scope: str, owner: User | None, actor: User | None
) -> IssuedToken:
    name = name.strip()
    if not name:
        raise InvalidInput(N_("Give the token a name."), errors={"name": N_("Required.")})
    if scope not in {s.value for s in TokenScope}:
        raise InvalidInput(N_("Scope must be worker or user."), errors={"scope": N_("Invalid.")})
    if scope == TokenScope.user and owner is None:
        raise InvalidInput(N_("A user token needs an owner."), errors={"scope": N_("Invalid.")})
    raw = new_api_token()
    token = ApiToken(
        name=name,
        scope=scope,
        prefix=token_prefix(raw),
        token_hash=sha256(raw),
        user_id=owner.id if scope == TokenScope.user and owner else None,
        created_at=utcnow(),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="token.created",
        entity_type="api_token",
        entity_id=token.id,
        after={"name": name, "scope": scope},
    )
    return IssuedToken(token=token, raw=raw)


def list_tokens(*, session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))


def revoke_token(*, session: Session, token_id: int, actor: User | None) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(N_("No token with id %(id)s."), id=token_id)
    if token.revoked_at is not None:
        raise Conflict(N_("Token %(name)s is already revoked."), name=token.name)
    token.revoked_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="token.revoked",
        entity_type="api_token",
        entity_id=token.id,
        before={"revoked": False},
        after={"revoked": True},
    )
    return token


def resolve_token(*, session: Session, raw: str) -> tuple[ApiToken, User | None] | None:
    """The live token for a bearer string (and its owner for user tokens), or None."""
    candidates = session.scalars(
        select(ApiToken).where(ApiToken.prefix == token_prefix(raw), ApiToken.revoked_at.is_(None))
    ).all()
    digest = sha256(raw)
    for token in candidates:
        if same(token.token_hash, digest):
            owner = session.get(User, token.user_id) if token.user_id else None
            if token.scope == TokenScope.user and (owner is None or not owner.is_active):
                return None
            now = utcnow()
            # Coarse last-used stamp: one write per minute at most per token.
            if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
                token.last_used_at = now
            return token, owner
    return None
