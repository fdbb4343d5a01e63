"""Request body limits, checked after authentication and before parsing.

A request that may carry a body (any method but GET, HEAD and OPTIONS, or one that declares a
body) to a route that is not public has its caller resolved first: an anonymous caller, or one
with a bad token, is answered 401 (the sign-in page for HTML) before one byte of the body is
read. A declared Content-Length over the route's limit is then answered 413, unread; and the body
is counted as it arrives, so reading stops at the limit plus one chunk whatever the headers say.

The limit is ``max_body_bytes`` (JSON and forms); a route with a dependency marked
``streams_upload`` (an import upload, streamed to disk) has ``max_upload_bytes`` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app import handlers
from app.auth.deps import SAFE_METHODS, authenticate
from app.errors import DomainError, NotAuthenticated, TooLarge, status_for
from app.i18n import N_
from app.imports.upload import FILE_TOO_LARGE, readable_size

Message = MutableMapping[str, Any]
ASGIApp = Callable[[Message, Callable, Callable], Awaitable[None]]

BODY_TOO_LARGE = N_("The request is larger than the limit of %(limit)s.")


class BodyRefused(HTTPException):
    """A refusal raised while the body is being read: an HTTPException, so that the body parsers
    pass it on as it is instead of answering 400, carrying the domain error to answer with."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(status_code=status_for(error), detail=error.text)
        self.error = error


class BodyLimit:
    """Pure ASGI middleware: authenticate before the body, then count it against the limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Message, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        settings = request.app.state.settings
        route = _route(request) if _carries_body(request) else None
        public, upload = _markers(route) if route is not None else (True, False)
        if not public:
            try:
                if await authenticate(request) is None:
                    raise NotAuthenticated(N_("Please sign in."))
            except DomainError as error:
                await _answer(request, error, send)
                return
        if upload:
            limit, message = settings.max_upload_bytes, FILE_TOO_LARGE
        else:
            limit, message = settings.max_body_bytes, BODY_TOO_LARGE
        refusal = TooLarge(message, limit=readable_size(limit))
        declared = _content_length(request)
        if declared is not None and declared > limit:
            await _answer(request, refusal, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyRefused(refusal)
            return message

        await self.app(scope, counted, send)


def _route(request: Request) -> RouteContext | None:
    """The API route the router will pick for this request, if any (a 404 or 405 reads no
    body, and static files take none)."""
    for context in iter_route_contexts(request.app.router.routes):
        if isinstance(context.original_route, APIRoute):
            match, _ = context.matches(request.scope)
            if match == Match.FULL:
                return context
    return None


def _markers(route: RouteContext) -> tuple[bool, bool]:
    """Whether the route is public (every access level it declares is) and whether it streams
    an upload, from its dependencies."""
    levels: set[str] = set()
    upload = False
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if level := getattr(dependency.call, "access_level", None):
            levels.add(level)
        upload = upload or getattr(dependency.call, "streams_upload", False)
        stack.extend(dependency.dependencies)
    return levels == {"public"}, upload


def _carries_body(request: Request) -> bool:
    headers = request.headers
    declared = headers.get("content-length", "0") not in ("", "0")
    return request.method not in SAFE_METHODS or declared or "transfer-encoding" in headers


def _content_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _answer(request: Request, error: DomainError, send: Callable) -> None:
    """Answer as the error handlers do (JSON under /api/, the HTML page or the sign-in
    redirect otherwise), without reading the body."""
    response = await handlers.domain_error(request, error)
    await response(request.scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


async def _refused(request: Request, refusal: Exception) -> Any:
    assert isinstance(refusal, BodyRefused)
    return await handlers.domain_error(request, refusal.error)


def install(app: FastAPI) -> None:
    """Add the body-limit middleware to ``app``."""
    app.add_middleware(BodyLimit)
    app.add_exception_handler(BodyRefused, _refused)
