"""Who is calling, and may they? Every route declares one access level here.

Levels: ``public`` < people (``annotator`` < ``reviewer`` < ``admin``), plus a
separate ``worker`` scope for trainer tokens and ``any`` for routes that answer
every signed-in caller. ``manager`` admits whoever manages at least one project.

A project-scoped route (``in_project``) is decided by the caller's role in the project its
path points into (``app.members.access``): a non-member gets 404, as for a missing id, and a
member below the route's project role gets 403. Global admins manage every project.

Cookie-authenticated state changes must carry the CSRF token (form field ``csrf_token`` or
header ``X-CSRF-Token``); bearer calls are exempt because browsers never send the token by
themselves.

The caller is resolved once per request. Where the body is still to be read (app.limits, and
routes that read their own body, see ``before_body``), that happens in a short unit of work of
its own, before any byte of the body arrives; the request's dependencies then reuse the result.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session, object_session
from starlette.concurrency import run_in_threadpool

from app.auth import service as auth_service
from app.db import WRITE_METHODS, DbSession, begin_for_write
from app.errors import Forbidden, NotAuthenticated
from app.i18n import N_
from app.members import access as members
from app.members.access import Membership
from app.models import ApiToken, ProjectRole, Role, User
from app.security import same
from app.tokens import service as token_service

SESSION_COOKIE = "studio_session"
PRELOGIN_COOKIE = "studio_prelogin"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LEVELS = ("public", "any", "annotator", "reviewer", "manager", "admin", "worker")
PROJECT_LEVELS = tuple(r.value for r in ProjectRole)


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
    """Resolve the caller once per request from a bearer token or the session cookie; a caller
    resolved earlier in the request (before its body was read) is reused, in ``session``."""
    resolved = getattr(request.state, "resolved_principal", None)
    if resolved is not None:
        principal = resolved[0]
        return _remember(request, _attached(principal, session)) if principal else None
    principal = _resolve(request, session)
    request.state.resolved_principal = (principal,)
    return principal


async def authenticate(request: Request) -> Principal | None:
    """The caller, resolved before the request's body is read and its unit of work begins."""
    resolved = getattr(request.state, "resolved_principal", None)
    if resolved is not None:
        return resolved[0]
    return await run_in_threadpool(_resolve_apart, request)


def _resolve_apart(request: Request) -> Principal | None:
    # A short unit of work of its own, so no transaction (nor SQLite's write lock) stays open
    # while the body arrives. A token's last-used stamp is its only write.
    with request.app.state.open_session() as session:
        bearer = _bearer(request) is not None
        if bearer and request.method in WRITE_METHODS and not session.in_transaction():
            begin_for_write(session)
        principal = get_principal(request, session)
        session.commit()
    return principal


def _attached(principal: Principal, session: Session) -> Principal:
    """The same caller with its rows in ``session`` (loaded apart, they are detached by now)."""
    return Principal(
        user=session.merge(principal.user, load=False) if principal.user else None,
        token=session.merge(principal.token, load=False) if principal.token else None,
        via=principal.via,
        csrf_token=principal.csrf_token,
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _resolve(request: Request, session: Session) -> Principal | None:
    raw_token = _bearer(request)
    if raw_token is not None:
        found = token_service.resolve_token(session=session, raw=raw_token)
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
    if request.method in SAFE_METHODS or getattr(request.state, "csrf_verified", False):
        return
    _compare_csrf(request, await _submitted_csrf(request), expected)


def _compare_csrf(request: Request, submitted: str, expected: str) -> None:
    if not expected or not submitted or not same(submitted, expected):
        raise Forbidden(
            N_("The form has expired or was not sent from this site. Reload and retry.")
        )
    request.state.csrf_verified = True


def _allowed(level: str, principal: Principal | None):
    """What a route of ``level`` receives for this caller, or the refusal."""
    if principal is None:
        raise NotAuthenticated(N_("Please sign in."))
    if level == "worker":
        if principal.token is None or principal.token.scope != "worker":
            raise Forbidden(N_("This endpoint is for trainer workers."))
        return principal.token
    if level == "any":
        return principal
    user = principal.user
    if user is None:
        raise Forbidden(N_("Worker tokens cannot use this endpoint."))
    if level == "manager":
        if not members.manages_any(object_session(user), user=user):
            raise Forbidden(N_("Your role does not allow this."))
        return user
    if Role(user.role).rank < Role(level).rank:
        raise Forbidden(N_("Your role does not allow this."))
    return user


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
        allowed = _allowed(level, principal)
        if principal.via == "cookie":
            await check_csrf(request, principal.csrf_token)
        return allowed

    dependency.access_level = level  # type: ignore[attr-defined]
    dependency.__name__ = f"access_{level}"
    return dependency


def project_membership(
    request: Request,
    session: DbSession,
    principal: Annotated[Principal | None, Depends(get_principal)],
) -> Membership:
    """The caller's standing in the project the path points into; 404 for a non-member."""
    user = _allowed("annotator", principal)
    project_id = members.project_of(session, request.path_params)
    found = members.membership(session, user=user, project_id=project_id)
    members.check_item(session, found, request.path_params)
    request.state.membership = found
    return found


def in_project(level: str):
    """Build the dependency for a project-scoped route needing ``level`` in that project."""
    needed = ProjectRole(level)

    async def dependency(
        request: Request,
        principal: Annotated[Principal | None, Depends(get_principal)],
        found: Annotated[Membership, Depends(project_membership)],
    ):
        if not found.at_least(needed):
            raise Forbidden(N_("Your role in this project does not allow this."))
        if principal is not None and principal.via == "cookie":
            await check_csrf(request, principal.csrf_token)
        return principal.user if principal is not None else None

    dependency.access_level = level  # type: ignore[attr-defined]
    dependency.project_scoped = True  # type: ignore[attr-defined]
    dependency.__name__ = f"in_project_{level}"
    return dependency


def before_body(level: str, *, project: bool = False):
    """The access check for a route that reads its own body (a streamed upload): the caller is
    resolved and their level enforced (in the path's project, when ``project``) before any
    byte of the body is read, and without the request's unit of work, which begins once the
    body is in. A cookie session's CSRF token comes in the ``X-CSRF-Token`` header or, for a
    plain form, in the first field the body parser meets that is not a file: it passes it to
    ``form_csrf`` and accepts nothing before."""

    async def dependency(request: Request):
        principal = await authenticate(request)
        if project:
            allowed = _allowed("annotator", principal)
            found = await run_in_threadpool(_membership_apart, request, allowed)
            if not found.at_least(level):
                raise Forbidden(N_("Your role in this project does not allow this."))
        else:
            allowed = _allowed(level, principal)
        header = request.headers.get("X-CSRF-Token")
        if principal.via == "cookie" and header and request.method not in SAFE_METHODS:
            _compare_csrf(request, header, principal.csrf_token)
        return allowed

    dependency.access_level = level  # type: ignore[attr-defined]
    dependency.project_scoped = project  # type: ignore[attr-defined]
    dependency.__name__ = f"before_body_{level}"
    return dependency


def _membership_apart(request: Request, user: User) -> Membership:
    with request.app.state.open_session() as session:
        project_id = members.project_of(session, request.path_params)
        return members.membership(session, user=user, project_id=project_id)


def csrf_pending(request: Request) -> bool:
    """Whether the body parser of a ``before_body`` route still needs the form's CSRF token."""
    principal = getattr(request.state, "principal", None)
    return (
        principal is not None
        and principal.via == "cookie"
        and request.method not in SAFE_METHODS
        and not getattr(request.state, "csrf_verified", False)
    )


def form_csrf(request: Request, submitted: str) -> None:
    """Check the CSRF field a ``before_body`` route's parser read from the form."""
    _compare_csrf(request, submitted, request.state.principal.csrf_token)


public = _access("public")
any_principal = _access("any")
annotator = _access("annotator")
reviewer = _access("reviewer")
manager = _access("manager")
admin = _access("admin")
worker = _access("worker")
project_annotator = in_project("annotator")
project_reviewer = in_project("reviewer")
project_manager = in_project("manager")
manager_before_body = before_body("manager", project=True)

Public = Annotated[Principal | None, Depends(public)]
AnyPrincipal = Annotated[Principal, Depends(any_principal)]
Annotator = Annotated[User, Depends(annotator)]
Reviewer = Annotated[User, Depends(reviewer)]
Manager = Annotated[User, Depends(manager)]
Admin = Annotated[User, Depends(admin)]
ProjectAnnotator = Annotated[User, Depends(project_annotator)]
ProjectReviewer = Annotated[User, Depends(project_reviewer)]
ProjectManager = Annotated[User, Depends(project_manager)]
Member = Annotated[Membership, Depends(project_membership)]
Worker = Annotated[ApiToken, Depends(worker)]
ProjectManagerBeforeBody = Annotated[User, Depends(manager_before_body)]
