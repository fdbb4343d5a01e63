"""Prometheus metrics this process records, and the middleware that times every request.

One process keeps its metrics in ``prometheus_client``'s default registry. Several web
processes (``studio serve --workers N``) run in the library's multiprocess mode: ``studio
serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start, each process writes its
values to files in that folder, and a scrape, whichever process answers it, adds up every
process's files. The mode is fixed when ``prometheus_client`` is first imported, so it is read
from the library rather than from the environment.

Only counters and histograms live here: they add up across processes. What the database knows
(queue depths, heartbeats) is read at scrape time instead (``app.ops.metrics``), so no process
can report a stale copy of it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.routing import Match

Message = MutableMapping[str, Any]
ASGIApp = Callable[[Message, Callable, Callable], Awaitable[None]]
T = TypeVar("T")

MULTIPROCESS: bool = getattr(values.ValueClass, "_multiprocess", False)
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The file names prometheus_client gives each process's values, e.g. counter_1234.db.
_VALUE_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")

REQUEST_DURATION = Histogram(
    "studio_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, streamed bodies included.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
IMPORT_ROWS = Counter(
    "studio_import_rows",
    "Rows read from import files while writing them to a project, valid or not.",
)
EXPORT_ITEMS = Counter(
    "studio_export_items",
    "Items written to export files (each split of each export).",
)


def collector() -> Collector:
    """Where this process's metrics are read: every process's files in multiprocess mode,
    else the default registry (with the process and runtime metrics it carries)."""
    return folder_collector() if MULTIPROCESS else REGISTRY


def folder_collector(path: Path | None = None) -> Collector:
    """The values every process wrote into ``path`` (``PROMETHEUS_MULTIPROC_DIR`` by
    default), added up per series."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path) if path else None)
    return registry


def clear_folder(path: Path) -> int:
    """Remove the value files left in ``path`` by processes of an earlier start (counts start
    again from zero, as Prometheus expects of a restart); other files are left alone. Answers
    how many were removed."""
    path.mkdir(parents=True, exist_ok=True)
    stale = [f for f in path.iterdir() if f.is_file() and _VALUE_FILE.fullmatch(f.name)]
    for file in stale:
        file.unlink()
    return len(stale)


def counted(rows: Iterable[T], counter: Counter) -> Iterator[T]:
    """Yield ``rows`` and add how many went by to ``counter`` once, when the iteration ends
    or is closed: one update per pass rather than one per row."""
    passed = 0
    try:
        for row in rows:
            passed += 1
            yield row
    finally:
        counter.inc(passed)


class RequestTimer:
    """Pure ASGI middleware: observe each HTTP request in :data:`REQUEST_DURATION`, labelled
    by the route's template (never the raw path, whose values are unbounded)."""

    def __init__(self, app: ASGIApp, routes: Callable[[], list]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Message, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Routing rewrites the scope as it goes down; the fallback matches what arrived.
        arrived = {"type": "http", "path": scope["path"], "root_path": scope.get("root_path", "")}
        method = scope["method"] if scope["method"] in METHODS else "other"
        status = 500  # what the client gets when nothing answers

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            route = _template(scope.get("route")) or self._match({**arrived, "method": method})
            REQUEST_DURATION.labels(method, route, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )

    def _match(self, scope: Message) -> str:
        """The template of the route this path names, for requests answered before routing
        (a refused body) or refused by it (405), and for mounts; else ``unmatched``."""
        for context in iter_route_contexts(self.routes()):
            match, _ = context.matches(scope)
            if match != Match.NONE:
                return _template(context) or UNMATCHED
        return UNMATCHED


def _template(route: Any) -> str | None:
    return getattr(route, "path_format", None) or getattr(route, "path", None)


def install(app: FastAPI) -> None:
    """Wrap the whole middleware stack of ``app`` in :class:`RequestTimer` (outermost, like
    ``app.headers``: Starlette's 500 page and refusals before routing are timed too)."""
    build = app.build_middleware_stack

    def build_with_timer() -> ASGIApp:
        return RequestTimer(build(), lambda: app.router.routes)

    app.build_middleware_stack = build_with_timer  # type: ignore[method-assign]
