"""Sign in, sign out, the home page and the UI language switch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.auth import service
from app.auth.deps import (
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    Annotator,
    Public,
    prelogin_csrf,
    session_serializer,
)
from app.db import DbSession
from app.errors import TooManyAttempts
from app.i18n import N_
from app.models.base import utcnow
from app.security import new_secret
from app.users import service as users
from app.web import form_rejection, redirect, render

router = APIRouter()


def clock(request: Request) -> Callable[[], datetime]:
    """The time source for sign-in throttling: ``app.state.clock`` when set (tests move it
    forward instead of sleeping), else the system clock."""
    return getattr(request.app.state, "clock", None) or utcnow


def client_address(request: Request) -> str | None:
    """The client's address as the server sees it, for per-address throttling. Behind a
    reverse proxy that is the proxy's own address, unless uvicorn is told to trust that
    proxy's forwarding headers (``--forwarded-allow-ips`` / ``FORWARDED_ALLOW_IPS``; it trusts
    127.0.0.1 by default). X-Forwarded-For is never read here: any client can send one."""
    return request.client.host if request.client else None


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login form cannot redirect elsewhere."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login_page(request: Request, *, email: str = "", next_url: str = "/", error=None, status=200):
    fresh_nonce = None
    if not request.cookies.get(PRELOGIN_COOKIE):
        fresh_nonce = new_secret(16)
        request.state.prelogin = fresh_nonce
    request.state.csrf_token = prelogin_csrf(request)
    response = render(
        request,
        "auth/login.html",
        {"email": email, "next_url": next_url, "error": error},
        status_code=status,
    )
    if fresh_nonce:
        response.set_cookie(
            PRELOGIN_COOKIE,
            fresh_nonce,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.cookies_secure,
            path="/",
        )
    return response


@router.get("/login", name="login")
def login_form(request: Request, principal: Public, next: str | None = None) -> Response:
    """Show the sign-in form."""
    if principal is not None and principal.user is not None:
        return redirect(request, _safe_next(next))
    return _login_page(request, next_url=_safe_next(next))


@router.post("/login", name="login_submit")
def login_submit(
    request: Request,
    session: DbSession,
    principal: Public,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check credentials and start a session."""
    settings = request.app.state.settings
    with form_rejection(status=400, also=(TooManyAttempts,)) as rejected:
        new = service.login(
            session=session,
            email=email,
            password=password,
            address=client_address(request),
            lifetime=timedelta(hours=settings.session_hours),
            throttle=service.Throttle.from_settings(settings),
            now=clock(request)(),
        )
    if rejected:
        page = _login_page(
            request,
            email=email,
            next_url=_safe_next(next),
            error=rejected.error,
            status=rejected.status,
        )
        if isinstance(rejected.error, TooManyAttempts):
            page.headers["Retry-After"] = str(rejected.error.params["seconds"])
        return page
    response = redirect(request, _safe_next(next))
    response.set_cookie(
        SESSION_COOKIE,
        session_serializer(request).dumps(new.raw_id),
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookies_secure,
        path="/",
    )
    response.delete_cookie(PRELOGIN_COOKIE, path="/")
    return response


@router.post("/logout", name="logout")
def logout(request: Request, session: DbSession, user: Annotator) -> Response:
    """End this browser session."""
    raw_id = getattr(request.state, "raw_session_id", None)
    if raw_id:
        service.logout(session=session, raw_id=raw_id, user=user)
    response = redirect(request, request.app.url_path_for("login"))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/me/language", name="set_language")
def set_language(
    request: Request,
    session: DbSession,
    user: Annotator,
    language: Annotated[str, Form()],
    back: Annotated[str, Form()] = "/",
) -> Response:
    """Switch the interface language for this user."""
    users.set_language(session=session, user=user, language=language)
    request.state.locale = language
    return redirect(request, _safe_next(back), toast=("success", N_("Language changed.")))
