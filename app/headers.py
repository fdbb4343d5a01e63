"""Security headers on every response: pages, fragments, JSON, static files and error answers.

The Content-Security-Policy allows scripts and styles from this site's own files only: no inline
``<script>``, no ``on…=`` handlers, no ``style=`` attributes, no ``eval``. Pages pass data to their
scripts through ``data-*`` attributes or ``<script type="application/json">`` blocks. A response
that sets one of these headers itself keeps its own value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI

Message = MutableMapping[str, Any]
ASGIApp = Callable[[Message, Callable, Callable], Awaitable[None]]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # data: for the icons inside Swagger UI's stylesheet
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# A year; sent only where cookies are Secure, that is where the app is reached over HTTPS.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"
HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),  # frame-ancestors for browsers that predate it
)


class SecurityHeaders:
    """Pure ASGI middleware: adds :data:`HEADERS` (and HSTS when ``secure()``) to every
    HTTP response start; streaming bodies pass through untouched."""

    def __init__(self, app: ASGIApp, secure: Callable[[], bool]) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Message, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = list(HEADERS)
        if self.secure():
            wanted.append(("strict-transport-security", STRICT_TRANSPORT_SECURITY))
        extra = [(name.encode(), value.encode()) for name, value in wanted]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Wrap the whole middleware stack of ``app`` in :class:`SecurityHeaders`.

    ``app.add_middleware`` would sit inside Starlette's ServerErrorMiddleware, whose 500 page
    would then go out without the headers; wrapping the built stack covers it too.
    """
    build = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build(), lambda: app.state.settings.cookies_secure)

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
