"""Request bodies (issue 14, item 2): the caller is checked before the body is read, and no body
is read past its limit.

Attacks: an anonymous caller (or one with a made-up token) streams a large or malformed body to
a route that needs a sign-in, which must be answered 401 (the sign-in page for HTML) with not one
byte read, instead of being parsed into a 422 or read to its end; a signed-in user and a worker
send more than the limit, with a Content-Length over it, without one (chunked), or with one that
lies, and must get a 413 with a sentence, the reading stopped at the limit plus one chunk. Most
tests set a small limit; one runs at the default of 2 MB.
"""

from __future__ import annotations

import socket
import threading

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.main import create_app
from app.models import Project, User
from tests.factories import make_token, make_user
from tests.helpers import login
from tests.security.raw_asgi import CHUNK, chunks, cookie_header, exchange

SMALL = 4 * CHUNK  # the limit most tests set: a few chunks
MUCH = 40 * CHUNK  # ten times that, and more than the default too
CLAIM = "/api/v1/worker/jobs/claim"
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def small(app):
    app.state.settings.max_body_bytes = SMALL
    return app


def json_body(total: int, head: bytes = b'{"worker": "w1"') -> list[bytes]:
    """A JSON object of exactly ``total`` bytes, padded with spaces, in chunks."""
    tail = b"}"
    padded = head + b" " * (total - len(head) - len(tail)) + tail
    return [padded[i : i + CHUNK] for i in range(0, len(padded), CHUNK)]


def _projects(session) -> int:
    return session.scalar(select(func.count()).select_from(Project))


class TestAnonymous:
    @pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
    def test_a_large_json_body_is_refused_unread(self, small, declared):
        headers = {**JSON, "content-length": str(MUCH)} if declared else dict(JSON)
        answer = exchange(small, "POST", "/api/v1/projects", body=chunks(MUCH), headers=headers)
        assert answer.status == 401
        assert answer.json()["error"] == "not_authenticated"
        assert answer.chunks_read == 0

    def test_a_large_form_to_a_page_is_sent_to_sign_in_unread(self, small):
        answer = exchange(small, "POST", "/admin/users", body=chunks(MUCH), headers=FORM)
        assert answer.status == 303
        assert answer.headers["location"].startswith("/login")
        assert answer.chunks_read == 0

    def test_a_malformed_claim_is_401_not_422(self, client):
        response = client.post(CLAIM, content=b"{", headers=JSON)
        assert response.status_code == 401
        assert response.json()["error"] == "not_authenticated"

    def test_a_made_up_token_is_refused_unread(self, small):
        headers = {**JSON, "authorization": "Bearer st_made_up_0123456789"}
        answer = exchange(small, "POST", CLAIM, body=chunks(MUCH), headers=headers)
        assert answer.status == 401
        assert answer.chunks_read == 0

    def test_the_public_sign_in_form_is_capped_too(self, small):
        answer = exchange(small, "POST", "/login", body=chunks(MUCH), headers=FORM)
        assert answer.status == 413
        assert answer.chunks_read <= SMALL // CHUNK + 1


@pytest.fixture
def admin_token(db_session):
    admin = make_user(db_session, role="admin", email="limits-admin@example.org")
    return make_token(db_session, scope="user", owner=admin)


class TestSignedIn:
    def test_a_user_over_the_limit_gets_413_and_reading_stops(self, small, admin_token, db_session):
        before = _projects(db_session)
        headers = {**JSON, "authorization": f"Bearer {admin_token}"}
        answer = exchange(small, "POST", "/api/v1/projects", body=chunks(MUCH), headers=headers)
        assert answer.status == 413
        assert answer.json() == {
            "error": "too_large",
            "detail": "The request is larger than the limit of 256 KB.",
        }
        assert answer.chunks_read <= SMALL // CHUNK + 1
        assert _projects(db_session) == before

    def test_a_content_length_over_the_limit_is_refused_before_reading(self, small, admin_token):
        headers = {**JSON, "authorization": f"Bearer {admin_token}"}
        headers["content-length"] = str(SMALL + 1)
        answer = exchange(small, "POST", "/api/v1/projects", body=chunks(MUCH), headers=headers)
        assert answer.status == 413
        assert answer.chunks_read == 0

    def test_a_lying_content_length_does_not_lift_the_limit(self, small, admin_token):
        headers = {**JSON, "authorization": f"Bearer {admin_token}", "content-length": "100"}
        answer = exchange(small, "POST", "/api/v1/projects", body=chunks(MUCH), headers=headers)
        assert answer.status == 413
        assert answer.chunks_read <= SMALL // CHUNK + 1

    def test_a_worker_over_the_limit_gets_413(self, small, db_session):
        token = make_token(db_session, scope="worker")
        headers = {**JSON, "authorization": f"Bearer {token}"}
        answer = exchange(small, "POST", CLAIM, body=json_body(MUCH), headers=headers)
        assert answer.status == 413
        assert "larger than the limit" in answer.json()["detail"]
        assert answer.chunks_read <= SMALL // CHUNK + 1

    @pytest.mark.parametrize("language", ["en", "zh"])
    def test_a_page_over_the_limit_answers_the_error_page(
        self, small, db_session, client, language
    ):
        user = make_user(db_session, role="admin", language=language)
        csrf = login(client, user.email)
        headers = {**FORM, "cookie": cookie_header(client), "x-csrf-token": csrf}
        answer = exchange(small, "POST", "/admin/users", body=chunks(MUCH), headers=headers)
        assert answer.status == 413
        assert 'data-status="413"' in answer.text
        assert f'<html lang="{language}' in answer.text
        assert "256 KB" in answer.text
        assert answer.chunks_read <= SMALL // CHUNK + 1

    def test_a_body_within_the_limit_is_served(self, small, admin_token, db_session):
        headers = {**JSON, "authorization": f"Bearer {admin_token}"}
        body = json_body(SMALL, head=b'{"name": "Within the limit"')
        answer = exchange(small, "POST", "/api/v1/projects", body=body, headers=headers)
        assert answer.status == 201, answer.text
        assert answer.json()["name"] == "Within the limit"


def test_the_default_limit_is_2_mb(app, db_session):
    """At the shipped setting: 2 MB exactly is read and served, one byte more is refused, and a
    long stream is read no further than 2 MB and one chunk."""
    assert app.state.settings.max_body_bytes == 2 * 1024 * 1024
    token = make_token(db_session, scope="worker")
    headers = {**JSON, "authorization": f"Bearer {token}"}
    exactly = exchange(app, "POST", CLAIM, body=json_body(2 * 1024 * 1024), headers=headers)
    assert exactly.status == 204  # read whole and parsed: no job is queued
    over = exchange(app, "POST", CLAIM, body=json_body(2 * 1024 * 1024 + 1), headers=headers)
    assert over.status == 413
    assert over.json()["detail"] == "The request is larger than the limit of 2 MB."
    stream = exchange(app, "POST", CLAIM, body=chunks(12 * 1024 * 1024), headers=headers)
    assert stream.status == 413
    assert stream.chunks_read <= 2 * 1024 * 1024 // CHUNK + 1


def test_the_caller_is_resolved_once(small, db_session, monkeypatch):
    """Checked before the body, the token is not looked up again by the route's dependencies."""
    from app.tokens import service as token_service

    token = make_token(db_session, scope="worker")
    calls = []
    resolve = token_service.resolve_token
    monkeypatch.setattr(
        token_service, "resolve_token", lambda **kw: calls.append(1) or resolve(**kw)
    )
    headers = {**JSON, "authorization": f"Bearer {token}"}
    answer = exchange(small, "POST", CLAIM, body=json_body(100), headers=headers)
    assert answer.status == 204
    assert len(calls) == 1


@pytest.fixture
def real_app(committed, tmp_path):
    """The app on a database of its own, each request in its own sessions as in production."""
    settings = Settings(
        database_url=str(committed.url.render_as_string(hide_password=False)),
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789",
        admin_password="",
        max_body_bytes=SMALL,
    )
    with Session(committed) as session:
        admin = make_user(session, role="admin", email="real-admin@example.org")
        tokens = {
            "worker": make_token(session, scope="worker"),
            "admin": make_token(session, scope="user", owner=admin),
        }
        session.commit()
    return create_app(settings, engine=committed), tokens


class TestWithRealSessions:
    def test_forms_json_and_tokens_still_work(self, real_app, committed):
        app, tokens = real_app
        with TestClient(app, follow_redirects=False) as client:
            csrf = login(client, "real-admin@example.org")
            created = client.post(
                "/admin/users",
                data={
                    "email": "new@example.org",
                    "role": "annotator",
                    "password": "long-enough-1",
                    "csrf_token": csrf,
                },
            )
            assert created.status_code == 303
            forged = client.post("/admin/users", data={"email": "x@example.org", "role": "admin"})
            assert forged.status_code == 403  # the CSRF check still runs
            claim = client.post(
                CLAIM,
                json={"worker": "w1"},
                headers={"Authorization": f"Bearer {tokens['worker']}"},
            )
            assert claim.status_code == 204
            project = client.post(
                "/api/v1/projects",
                json={"name": "Over the API"},
                headers={"Authorization": f"Bearer {tokens['admin']}"},
            )
            assert project.status_code == 201, project.text
        with Session(committed) as session:
            assert session.scalar(select(User.id).where(User.email == "new@example.org"))
            assert session.scalar(select(Project.id).where(Project.name == "Over the API"))

    def test_over_a_socket_the_answer_comes_before_the_body(self, real_app):
        """Only the headers are sent: an answer proves the body was not waited for."""
        app, tokens = real_app
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
        thread.start()
        try:
            anonymous = _status_without_body(port, CLAIM, {})
            worker = _status_without_body(
                port, CLAIM, {"Authorization": f"Bearer {tokens['worker']}"}
            )
        finally:
            server.should_exit = True
            thread.join(30)
        assert (anonymous, worker) == (401, 413)


def _status_without_body(port: int, path: str, headers: dict[str, str]) -> int:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {50 * 1024 * 1024}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(60)  # a server waiting for the 50 MB would never answer
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])
