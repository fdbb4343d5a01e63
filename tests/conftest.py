"""Fixtures: a migrated database per backend per session, a rolled-back session per
test, and the real app over TestClient with its session bound to that transaction."""

from __future__ import annotations

import os

# Offline for the whole session, before anything imports the hub client (which reads this
# once, at import): no test downloads a model, and a test that names a hub id must fail at
# once, not after the network's timeouts (90 s a test where the network is unreachable).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app import migrate, security
from app.config import Settings
from app.db import get_session, make_engine
from app.main import create_app
from tests.dbs import IN_CI, fresh_database
from tests.factories import make_user
from tests.helpers import Clock

# Real argon2id, at its lightest parameters: at the recommended cost every user a test makes
# and every sign-in took about 0.15 s of CPU, minutes of the suite. What the tests check is
# unchanged: passwords are argon2 hashes at rest and only the right one verifies. (Processes the
# tests start, such as `studio run`, hash at the recommended cost.)
security._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))

BACKENDS = ["sqlite", "postgresql"]
# Shared real data for tests; a relative path is taken from the repository root.
TEST_DATA = Path(__file__).resolve().parents[1] / os.environ.get(
    "STUDIO_TEST_DATA", "../shared/data"
)


def live_backend() -> str:
    """Live-server and browser tests run once: PostgreSQL in CI, SQLite elsewhere."""
    return "postgresql" if IN_CI else "sqlite"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def db_url(backend: str, tmp_path_factory) -> Iterator[str]:
    with fresh_database(backend, tmp_path_factory.mktemp(backend)) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        if transaction.is_active:
            transaction.rollback()
        connection.close()


@pytest.fixture
def committed(backend, tmp_path):
    """An engine on a fresh, migrated database whose transactions really commit (for tests
    of concurrent transactions)."""
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def test_data() -> Path:
    """Shared real data for tests (``$STUDIO_TEST_DATA``, default ``../shared/data``)."""
    return TEST_DATA


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789",
        admin_password="",
        # In-process tests share one session: they run queued tasks with ``run_tasks``.
        background_threads=0,
    )


@pytest.fixture
def app(settings: Settings, engine: Engine, db_session: Session):
    app = create_app(settings, engine=engine)

    def session_in_test_transaction() -> Iterator[Session]:
        # What the test set up counts as committed: a failing request rolls back its own
        # work only, as it would against a real database.
        db_session.commit()
        try:
            yield db_session
            db_session.commit()
        except BaseException:
            db_session.rollback()
            raise

    app.dependency_overrides[get_session] = session_in_test_transaction
    app.state.open_session = lambda: nullcontext(db_session)
    return app


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def run_tasks(app):
    """Run every queued background task here, in the test's session; answers their ids."""

    def run() -> list[int]:
        ran = []
        while (task_id := app.state.background.run_one()) is not None:
            ran.append(task_id)
        return ran

    return run


@pytest.fixture
def admin_user(db_session: Session):
    return make_user(db_session, role="admin", email="admin@example.org")


@pytest.fixture
def annotator_user(db_session: Session):
    return make_user(db_session, role="annotator", email="anna@example.org")


@pytest.fixture
def reviewer_user(db_session: Session):
    return make_user(db_session, role="reviewer", email="rita@example.org")


def pytest_terminal_summary(terminalreporter):
    """Say how many tests ran on each database, so a CI log shows the PostgreSQL half ran."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") not in ("call", "setup"):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            for backend in BACKENDS:
                if (
                    f"[{backend}" in report.nodeid
                    or f"-{backend}]" in report.nodeid
                    or f"-{backend}-" in report.nodeid
                ):
                    counts.setdefault(backend, {}).setdefault(outcome, 0)
                    counts[backend][outcome] += 1
    if counts:
        terminalreporter.section("tests per database")
        for backend, by_outcome in sorted(counts.items()):
            summary = ", ".join(f"{n} {o}" for o, n in sorted(by_outcome.items()))
            terminalreporter.write_line(f"{backend}: {summary}")


@pytest.fixture
def clock(app) -> Clock:
    """A clock that moves only when a test advances it, as the app's clock (sign-in waits)."""
    app.state.clock = Clock()
    return app.state.clock
