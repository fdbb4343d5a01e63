"""Who is calling, and may they? Every route declares one access level here.

Levels: ``public`` < people (``annotator`` < ``reviewer`` < ``admin``), plus a
separate ``worker`` scope for trainer tokens and ``any`` for routes that answer
every signed-in caller. Cookie-authenticated state changes must carry the CSRF
token (form field ``csrf_token`` or header ``X-CSRF-Token``); bearer calls are
exempt because browsers never send the token by themselves.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.auth import service as auth_service
from app.db import DbSession
from app.errors import Forbidden, NotAuthenticated
from app.i18n import N_
from app.models import ApiToken, Role, User
from app.security import same
from app.tokens import service as token_service

SESSION_COOKIE = "studio_session"
PRELOGIN_COOKIE = "studio_prelogin"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LEVELS = ("public", "any", "annotator", "reviewer", "admin", "worker")


@dataclass
class Principal:
    user: User | None
    token: ApiToken | None
    via: str  # "cookie" or "bearer"
    csrf_token: str = ""


@dataclass(frozen=True)
class Viewer:
    """What pages show about the signed-in person; plain data, so an error page
    rendered after a rollback never touches an expired ORM object."""

    id: int
    email: str
    display_name: str
    role: str
    language: str


def session_serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.secret_key, salt="session")


def get_principal(request: Request, session: DbSession) -> Principal | None:
    """Resolve the caller once per request from a bearer token or the session cookie."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        found = token_service.resolve_token(session=session, raw=header[7:].strip())
        if found is None:
            raise NotAuthenticated(N_("The API token is invalid or has been revoked."))
        token, owner = found
        return _remember(request, Principal(user=owner, token=token, via="bearer"))
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    settings = request.app.state.settings
    try:
        raw_id = session_serializer(request).loads(cookie, max_age=settings.session_hours * 3600)
    except BadSignature:
        return None
    found_session = auth_service.resolve_session(session=session, raw_id=raw_id)
    if found_session is None:
        return None
    web_session, user = found_session
    principal = Principal(user=user, token=None, via="cookie", csrf_token=web_session.csrf_token)
    request.state.raw_session_id = raw_id
    return _remember(request, principal)


def _remember(request: Request, principal: Principal) -> Principal:
    request.state.principal = principal
    user = principal.user
    request.state.user = (
        Viewer(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            language=user.language,
        )
        if user is not None
        else None
    )
    request.state.csrf_token = principal.csrf_token
    if principal.user is not None:
        request.state.locale = principal.user.language
    return principal


def prelogin_csrf(request: Request) -> str:
    """CSRF token for signed-out forms, derived from a random pre-login cookie."""
    nonce = request.cookies.get(PRELOGIN_COOKIE) or getattr(request.state, "prelogin", "")
    if not nonce:
        return ""
    key = request.app.state.secret_key.encode()
    return hmac.new(key, b"prelogin:" + nonce.encode(), hashlib.sha256).hexdigest()


async def _submitted_csrf(request: Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request, expected: str) -> None:
    if request.method in SAFE_METHODS:
        return
    submitted = await _submitted_csrf(request)
    if not expected or not submitted or not same(submitted, expected):
        raise Forbidden(
            N_("The form has expired or was not sent from this site. Reload and retry.")
        )


def _access(level: str):
    """Build the dependency that enforces one access level."""

    async def dependency(
        request: Request, principal: Annotated[Principal | None, Depends(get_principal)]
    ):
        if level == "public":
            if principal is None:
                await check_csrf(request, prelogin_csrf(request))
            elif principal.via == "cookie":
                await check_csrf(request, principal.csrf_token)
            return principal
        if principal is None:
            raise NotAuthenticated(N_("Please sign in."))
        if level == "worker":
            if principal.token is None or principal.token.scope != "worker":
                raise Forbidden(N_("This endpoint is for trainer workers."))
            return principal.token
        if level == "any":
            if principal.via == "cookie":
                await check_csrf(request, principal.csrf_token)
            return principal
        user = principal.user
        if user is None:
            raise Forbidden(N_("Worker tokens cannot use this endpoint."))
        if Role(user.role).rank < Role(level).rank:
            raise Forbidden(N_("Your role does not allow this."))
        if principal.via == "cookie":
            await check_csrf(request, principal.csrf_token)
        return user

    dependency.access_level = level  # type: ignore[attr-defined]
    dependency.__name__ = f"access_{level}"
    return dependency


public = _access("public")
any_principal = _access("any")
annotator = _access("annotator")
reviewer = _access("reviewer")
admin = _access("admin")
worker = _access("worker")

Public = Annotated[Principal | None, Depends(public)]
AnyPrincipal = Annotated[Principal, Depends(any_principal)]
Annotator = Annotated[User, Depends(annotator)]
Reviewer = Annotated[User, Depends(reviewer)]
Admin = Annotated[User, Depends(admin)]
Worker = Annotated[ApiToken, Depends(worker)]
