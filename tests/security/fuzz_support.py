"""Schemathesis over the application in process: every operation as each principal, one
rolled-back savepoint per request, and a report of what went wrong.

Every generated request runs inside a SAVEPOINT that is rolled back after its answer, so each
one meets the same seeded rows (``tests.security.fuzz_data``): the fuzzer cannot deactivate or
demote the admin it acts as, revoke the tokens it calls with, or finish the job the worker
reports on for the requests after it. Redirects are not followed: each answer is checked as
given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from app.db import get_session
from tests.security.fuzz_bodies import good_bodies
from tests.security.fuzz_data import Seeded, tune
from tests.test_route_access import access_level, api_routes

API_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Pages answer HTML, which the schema does not describe: there only a 5xx counts.
PAGE_CHECKS = [not_a_server_error]
SEED = int(os.environ.get("STUDIO_FUZZ_SEED", "14"))
# Examples per operation for the principal it serves; `make fuzz` asks for many more.
EXAMPLES = int(os.environ.get("STUDIO_FUZZ_EXAMPLES", "6"))
# For the principal an operation refuses: enough to see the refusal is documented.
REFUSED_EXAMPLES = 1
PAGES = os.environ.get("STUDIO_FUZZ_PAGES", "") == "1"


def bind_app(app: FastAPI, connection: Connection) -> None:
    """Every request and every streamed export works on ``connection``, inside whatever
    transaction the caller holds there."""

    def new_session() -> Session:
        return Session(bind=connection, join_transaction_mode="create_savepoint",
                       expire_on_commit=False)  # fmt: skip

    def session_on_connection() -> Iterator[Session]:
        session = new_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    app.dependency_overrides[get_session] = session_on_connection
    app.state.open_session = new_session


@contextmanager
def rolled_back(connection: Connection) -> Iterator[None]:
    savepoint = connection.begin_nested()
    try:
        yield
    finally:
        if savepoint.is_active:
            savepoint.rollback()


# ---- The run ---------------------------------------------------------------------------------


@dataclass
class Report:
    answered: dict[str, set[int]] = field(default_factory=dict)  # operation -> statuses
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (op, what) -> replay
    samples: dict[tuple[str, int], str] = field(default_factory=dict)  # (op, status) -> body

    def never_2xx(self) -> list[str]:
        """JSON operations that never succeeded (a page's success is often a redirect)."""
        return sorted(op for op, codes in self.answered.items()
                      if " /api/" in op and not any(200 <= c < 300 for c in codes))  # fmt: skip

    def never_2xx_lines(self) -> list[str]:
        """Each operation without a 2xx, with what it answered instead."""
        return [
            f"{op}: "
            + "; ".join(
                f"{code} {self.samples.get((op, code), '')[:160]}"
                for code in sorted(self.answered[op])
            )  # fmt: skip
            for op in self.never_2xx()
        ]

    def failure_lines(self) -> list[str]:
        return [f"{op}: {what}\n    {replay[:600]}"
                for (op, what), replay in sorted(self.failures.items())]  # fmt: skip

    def record(self, label: str, what: str, replay: str) -> None:
        self.failures.setdefault((label, what), replay)


def load_schema(app: FastAPI, *, pages: bool, under: str = "/api/v1/"):
    """The app's OpenAPI document, read in process (the app publishes none): the operations
    under ``under``, and the pages too with ``pages``."""
    raw = app.openapi()
    paths = {p: v for p, v in raw["paths"].items() if p.startswith(under) or pages}
    raw = {**raw, "paths": paths}
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = app
    return schema


def serves(app: FastAPI) -> Callable[[str, str], set[str]]:
    """(method, path) -> the principals, of admin and worker, the operation is for."""
    levels = {(m, r.path): access_level(r) for r in api_routes(app) for m in r.methods}

    def principals(method: str, path: str) -> set[str]:
        level = levels[(method.upper(), path)]
        if level in ("public", "any"):
            return {"admin", "worker"}
        return {"worker"} if level == "worker" else {"admin"}

    return principals


def fuzz(app: FastAPI, connection: Connection, seeded: Seeded, *, pages: bool = PAGES,
         examples: int = EXAMPLES, under: str = "/api/v1/") -> Report:  # fmt: skip
    """Every operation as each principal: positive and negative cases for the principal it
    serves, a couple for the one it refuses."""
    schema = load_schema(app, pages=pages, under=under)
    for_whom = serves(app)
    bodies = good_bodies(seeded)
    report = Report()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        report.answered.setdefault(label, set())
        checks = API_CHECKS if operation.path.startswith("/api/") else PAGE_CHECKS
        served = for_whom(operation.method, operation.path)
        for principal, raw in seeded.tokens.items():
            run = _runner(operation, label, raw, principal, checks, connection, seeded, report)
            if principal in served:
                run(GenerationMode.POSITIVE, examples, bodies)
                run(GenerationMode.NEGATIVE, max(1, examples // 2), None)
            else:
                run(GenerationMode.POSITIVE, REFUSED_EXAMPLES, None)
    return report


def _runner(operation, label, raw, principal, checks, connection, seeded, report):
    headers = {"Authorization": f"Bearer {raw}"}

    def run(mode: GenerationMode, examples: int, bodies: dict | None) -> None:
        @seed(SEED)
        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        def one(case, data):
            tune(case, label, data, seeded, bodies)
            _call(case, label, f"{principal}, {mode.value}", headers, checks, connection, report)

        try:
            one()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, label  # nothing to make invalid
            return

    return run


def _call(case, label, who, headers, checks, connection, report) -> None:
    with rolled_back(connection):
        try:
            response = case.call(headers=headers, allow_redirects=False)
        except Exception as error:  # noqa: BLE001 - the app answered 500 and re-raised
            first = (str(error).splitlines() or [""])[0][:200]
            report.answered[label].add(500)
            report.record(label, f"500 {type(error).__name__}: {first} (as {who})",
                          case.as_curl_command())  # fmt: skip
            return
    report.answered[label].add(response.status_code)
    report.samples.setdefault(
        (label, response.status_code), response.content[:300].decode(errors="replace")
    )
    try:
        case.validate_response(response, checks=checks, headers=headers)
    except FailureGroup as group:
        for failure in group.exceptions:
            what = f"{failure.title} ({response.status_code}, as {who})"
            report.record(label, what, case.as_curl_command())
