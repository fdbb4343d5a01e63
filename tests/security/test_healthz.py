"""The public health check with its database down: it must say "unavailable" and nothing
more. The driver's error names the server's address, port, database, user and sometimes the
query; none of it may reach an anonymous caller. The error goes to the log instead."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

# Each URL fails in its own way; each failure's text names something an outsider should not
# learn (the server, the port, the database or file, the user). The last word is one the log
# must show, so the operator still learns why.
BROKEN = {
    "postgresql: no such database": (
        "postgresql+psycopg://postgres@127.0.0.1:5432/secret_db_name_3f9c",
        ["secret_db_name_3f9c", "127.0.0.1", "5432"],
        "secret_db_name_3f9c",
    ),
    "postgresql: nobody listening": (
        "postgresql+psycopg://hidden_user_7a1e:pw@127.0.0.1:1/anything?connect_timeout=2",
        ["hidden_user_7a1e", "127.0.0.1", "port 1"],
        "port 1",
    ),
    "sqlite: no such directory": (
        "sqlite:////nonexistent_dir_5b2d/studio.db",
        ["nonexistent_dir_5b2d", "unable to open"],
        "unable to open database file",
    ),
}
DRIVER_WORDS = ["psycopg", "sqlite3", "OperationalError", "FATAL", "connection", "(Background"]


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_database_is_reported_without_its_error_text(case, tmp_path, caplog):
    url, secrets, logged = BROKEN[case]
    settings = Settings(
        database_url=url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789",
        admin_password="",
    )
    app = create_app(settings)
    # No lifespan (no `with`): the app must answer even though nothing at startup could run.
    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level(logging.WARNING):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}
    for word in secrets + DRIVER_WORDS:
        assert word not in response.text
    # The operator still learns why, from the log.
    assert logged in caplog.text
    app.state.engine.dispose()


def test_a_healthy_database_still_says_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
