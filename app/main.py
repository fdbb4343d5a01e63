"""create_app(): settings, database, templates, routers, error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app import handlers, headers, limits, logs, metrics
from app.assignments import api as assignments_api
from app.assignments import routes as assignments_routes
from app.audit import api as audit_api
from app.audit import routes as audit_routes
from app.auth import routes as auth_routes
from app.background import api as background_api
from app.background import routes as background_routes
from app.config import Settings, get_settings
from app.datasets import api as datasets_api
from app.datasets import routes as datasets_routes
from app.db import make_engine, make_session_factory
from app.evaluation import api as evaluation_api
from app.evaluation import judge_routes as evaluation_judge_routes
from app.evaluation import routes as evaluation_routes
from app.imports import api as imports_api
from app.imports import routes as imports_routes
from app.items import api as items_api
from app.items import augment_api as items_augment_api
from app.items import augment_routes as items_augment_routes
from app.items import routes as items_routes
from app.jobs import api as jobs_api
from app.jobs import preflight_api as jobs_preflight_api
from app.jobs import preflight_routes as jobs_preflight_routes
from app.jobs import routes as jobs_routes
from app.jobs.generation import api as generation_api
from app.jobs.generation import routes as generation_routes
from app.labeling import api as labeling_api
from app.labeling import routes as labeling_routes
from app.members import api as members_api
from app.members import routes as members_routes
from app.ops import routes as ops_routes
from app.pairs import api as pairs_api
from app.pairs import improve_routes as pairs_improve_routes
from app.pairs import routes as pairs_routes
from app.paths import STATIC
from app.projects import api as projects_api
from app.projects import routes as projects_routes
from app.reviews import api as reviews_api
from app.reviews import routes as reviews_routes
from app.revisions import api as revisions_api
from app.revisions import routes as revisions_routes
from app.stats import api as stats_api
from app.stats import routes as stats_routes
from app.tasks import make_runner
from app.tokens import api as tokens_api
from app.tokens import routes as tokens_routes
from app.users import api as users_api
from app.users import routes as users_routes
from app.web import build_environment

ROUTERS = [
    ops_routes.router,
    auth_routes.router,
    users_routes.router,
    tokens_routes.router,
    audit_routes.router,
    projects_routes.router,
    members_routes.router,
    assignments_routes.router,
    items_routes.router,
    items_augment_routes.router,
    labeling_routes.router,
    reviews_routes.router,
    revisions_routes.router,
    stats_routes.router,
    datasets_routes.router,
    imports_routes.router,
    background_routes.router,
    users_api.router,
    tokens_api.router,
    projects_api.router,
    members_api.router,
    assignments_api.router,
    items_api.router,
    items_augment_api.router,
    labeling_api.router,
    reviews_api.router,
    revisions_api.router,
    stats_api.router,
    audit_api.router,
    datasets_api.router,
    imports_api.router,
    background_api.router,
    jobs_api.router,
    generation_api.router,
    jobs_preflight_api.router,
    jobs_preflight_routes.router,
    generation_routes.router,
    jobs_routes.router,
    evaluation_routes.router,
    evaluation_judge_routes.router,
    evaluation_api.router,
    pairs_routes.router,
    pairs_improve_routes.router,
    pairs_api.router,
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Background task loops run beside the requests, and hand their tasks back on stop."""
    app.state.background.start(app.state.settings.background_threads)
    try:
        yield
    finally:
        app.state.background.stop()


def create_app(settings: Settings | None = None, *, engine=None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        lifespan=lifespan,
        title="Instruction Studio",
        version="0.1.0",
        description="Write, review and fine-tune on instruction-tuning data.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.secret_key = settings.resolved_secret_key()
    app.state.engine = engine or make_engine(settings.resolved_database_url)
    app.state.session_factory = make_session_factory(app.state.engine)
    # Streaming responses outlive their request's unit of work; they open their own session.
    app.state.open_session = app.state.session_factory
    app.state.templates = build_environment()
    app.state.background = make_runner(settings, lambda: app.state.open_session())
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    handlers.install(app)
    limits.install(app)
    headers.install(app)  # error answers carry the headers too
    metrics.install(app)  # outermost: times everything, refusals and 500 pages included
    logs.quiet_access_log()
    return app
