"""Health check, metrics for Prometheus, and the API docs, served from vendored assets only."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text

from app.auth.deps import Admin, Public
from app.db import DbSession
from app.ops import metrics
from app.web import render

router = APIRouter()
log = logging.getLogger("studio")
SWAGGER = "/static/vendor/swagger-ui-5.35.0"


@router.get("/healthz", name="healthz", tags=["ops"])
def healthz(session: DbSession, principal: Public) -> JSONResponse:
    """Report whether the app can reach its database."""
    try:
        session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        # The driver's message names the server, port, database and user: the log gets it,
        # an anonymous caller only the verdict.
        log.exception("health check: the database is unavailable")
        return JSONResponse({"status": "error", "database": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", name="metrics", tags=["ops"], response_class=Response)
def metrics_exposition(request: Request, session: DbSession, admin: Admin) -> Response:
    """Metrics for Prometheus; scrape with an admin's API token."""
    body, content_type = metrics.exposition(session, request.headers.get("accept", ""))
    return Response(body, headers={"content-type": content_type})


@router.get("/openapi.json", name="openapi", include_in_schema=False)
def openapi(request: Request, principal: Public) -> JSONResponse:
    """The OpenAPI document."""
    return JSONResponse(request.app.openapi())


@router.get("/docs", name="docs", include_in_schema=False)
def docs(request: Request, principal: Public) -> HTMLResponse:
    """Interactive API docs."""
    # Swagger UI started from static/js/docs.js: the CSP allows no inline script.
    return render(request, "ops/docs.html", {"swagger": SWAGGER})
