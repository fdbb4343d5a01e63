"""Attack: Schemathesis throws generated requests at every JSON operation (/api/v1), valid and
invalid, as an admin and as a worker, on each database.

It must find no 5xx answer (an id too large for the database's integer once made SQLite raise
OverflowError) and no answer the schema does not describe (the refusals were undocumented, and
their body is not FastAPI's default). A run only counts if every operation answered at least one
2xx, so a run of 401s or 403s cannot pass. The seed is fixed, so a failure replays; the deeper
run before a release is ``make fuzz`` (more examples, the HTML pages too).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.auth.deps import Admin
from app.main import create_app
from tests.factories import make_token, make_user
from tests.security.fuzz_data import Seeded, seed_rows
from tests.security.fuzz_support import Report, bind_app, fuzz


@pytest.fixture
def fuzzed(settings, engine: Engine) -> Iterator[tuple[FastAPI, object, Session]]:
    """The app on one connection whose outer transaction is rolled back at the end."""
    app = create_app(settings, engine=engine)
    with engine.connect() as connection:
        transaction = connection.begin()
        bind_app(app, connection)
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield app, connection, session
        finally:
            session.close()
            transaction.rollback()


def problems(report: Report) -> list[str]:
    found = []
    if report.failures:
        found += ["5xx answers and schema violations:", *report.failure_lines()]
    if report.never_2xx():
        found += ["operations that never answered 2xx:", *report.never_2xx_lines()]
    return found


def test_fuzzing_the_api_finds_no_server_error_and_no_schema_violation(fuzzed):
    app, connection, session = fuzzed
    seeded = seed_rows(session, app)
    report = fuzz(app, connection, seeded)
    assert not problems(report), "\n".join(problems(report))
    assert len(report.answered) >= 35, sorted(report.answered)  # every operation ran
    with TestClient(app) as client:  # whatever the fuzzer changed was rolled back
        for raw in seeded.tokens.values():
            assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).is_success


def test_the_fuzzing_run_reports_a_5xx_an_undocumented_answer_and_no_2xx(fuzzed):
    """The run's own check: an operation that crashes, and one that only ever refuses with a
    status its schema does not list, are both reported."""
    app, connection, session = fuzzed

    def crash(user: Admin) -> dict:
        raise RuntimeError("boom")

    def refuse(user: Admin) -> dict:
        return JSONResponse({"error": "teapot", "detail": "No."}, status_code=418)

    app.add_api_route("/api/v1/selfcheck/crash", crash, response_model=dict)
    app.add_api_route("/api/v1/selfcheck/refuse", refuse, response_model=dict)
    admin = make_user(session, role="admin")
    seeded = Seeded(tokens={"admin": make_token(session, scope="user", owner=admin)})
    session.commit()
    report = fuzz(app, connection, seeded, examples=2, under="/api/v1/selfcheck/")
    found = "\n".join(problems(report))
    assert "GET /api/v1/selfcheck/crash: 500 RuntimeError: boom" in found
    assert "GET /api/v1/selfcheck/refuse: Undocumented status code (418" in found
    assert report.never_2xx() == ["GET /api/v1/selfcheck/crash", "GET /api/v1/selfcheck/refuse"]
