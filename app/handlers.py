"""Map domain errors and HTTP errors to the HTML or JSON surface."""

from __future__ import annotations

import logging
from contextlib import suppress
from types import SimpleNamespace

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import i18n
from app.errors import DomainError, InvalidInput, NotAuthenticated, status_for
from app.web import is_htmx, render

log = logging.getLogger("studio")

HTTP_TITLES = {
    400: i18n.N_("Bad request"),
    401: i18n.N_("Please sign in"),
    403: i18n.N_("Not allowed"),
    404: i18n.N_("Not found"),
    405: i18n.N_("Method not allowed"),
    409: i18n.N_("Conflict"),
    413: i18n.N_("Too large"),
    422: i18n.N_("Invalid input"),
    429: i18n.N_("Too many attempts"),
    500: i18n.N_("Something went wrong"),
}
HTTP_MESSAGES = {
    404: i18n.N_("There is nothing at this address."),
    405: i18n.N_("This address does not accept that kind of request."),
    500: i18n.N_("The error has been logged. Please retry; if it persists, tell an admin."),
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _html_error(request: Request, status: int, message: str, params: dict) -> Response:
    return render(
        request,
        "errors/error.html",
        {
            "status": status,
            "title": HTTP_TITLES.get(status, HTTP_TITLES[400]),
            "err": SimpleNamespace(message=message, params=params),
        },
        status_code=status,
    )


def _login_redirect(request: Request) -> Response:
    target = request.app.url_path_for("login")
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"{target}?next={next_path}" if request.method == "GET" else target
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def domain_error(request: Request, error: DomainError) -> Response:
    status = status_for(error)
    if is_api(request):
        detail = error.text
        if isinstance(error, InvalidInput) and error.errors:
            detail = [{"field": f, "message": m} for f, m in error.errors.items()]
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": error.code, "detail": detail}, status, headers=headers)
    if isinstance(error, NotAuthenticated):
        return _login_redirect(request)
    return _html_error(request, status, error.message, error.params)


async def validation_error(request: Request, error: RequestValidationError) -> Response:
    fields = [
        {
            "field": ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")),
            "message": e["msg"],
        }
        for e in error.errors()
    ]
    if is_api(request):
        return JSONResponse({"error": "validation_error", "detail": fields}, 422)
    text = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return _html_error(
        request, 422, i18n.N_("The request was not valid: %(details)s"), {"details": text}
    )


async def http_error(request: Request, error: StarletteHTTPException) -> Response:
    if is_api(request):
        return JSONResponse(
            {"error": "http_error", "detail": error.detail},
            error.status_code,
            headers=getattr(error, "headers", None),
        )
    message = HTTP_MESSAGES.get(error.status_code, i18n.N_("The request could not be handled."))
    _recognise_reader(request)
    return _html_error(request, error.status_code, message, {})


def _recognise_reader(request: Request) -> None:
    """An unknown address matches no route, so no dependency has looked at the session cookie:
    look now, so the error page speaks the reader's language and shows their menu."""
    if hasattr(request.state, "principal") or not request.cookies:
        return
    from app.auth.deps import get_principal  # deferred: the auth package needs app.web

    # A revoked token or an ended session: the reader stays anonymous.
    with request.app.state.open_session() as session, suppress(DomainError):
        get_principal(request, session)


async def unstorable_value(request: Request, error: Exception) -> Response:
    """A value the database cannot hold (a number beyond its integer, a NUL character in text)
    that no schema bound caught: the request's fault, so 422, not 500."""
    reason = str(getattr(error, "orig", None) or error).splitlines()[0]  # never the parameters
    log.warning("unstorable value on %s %s: %s", request.method, request.url.path, reason)
    message = i18n.N_("A value in the request is out of range or cannot be stored.")
    if is_api(request):
        return JSONResponse({"error": "invalid", "detail": message}, 422)
    return _html_error(request, 422, message, {})


async def unhandled_error(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    if is_api(request):
        return JSONResponse({"error": "internal_error", "detail": "Internal server error."}, 500)
    return _html_error(request, 500, HTTP_MESSAGES[500], {})


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # SQLite refuses integers beyond 64 bits with OverflowError; PostgreSQL raises DataError.
    app.add_exception_handler(DataError, unstorable_value)
    app.add_exception_handler(OverflowError, unstorable_value)
    app.add_exception_handler(Exception, unhandled_error)
