"""Security headers and production cookies (issue 14, items 1 and 10).

Without a Content-Security-Policy any script that slips into a page (a stored link, an injected
attribute) runs in the reader's session; without ``nosniff`` a browser may run an uploaded or
served text file as script; without ``frame-ancestors`` another site can frame a page and trick
clicks on it. In production, cookies sent over plain HTTP can be read on the wire: they are
``Secure`` there and HSTS keeps the browser on HTTPS.
"""

from __future__ import annotations

import re
from contextlib import nullcontext

import pytest
import yaml
from fastapi.testclient import TestClient

from app.auth.deps import PRELOGIN_COOKIE, SESSION_COOKIE
from app.config import Settings
from app.db import get_session
from app.main import create_app
from app.paths import ROOT
from tests.factories import PASSWORD
from tests.helpers import csrf_from

REQUIRED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _policy(response) -> dict[str, list[str]]:
    header = response.headers.get("content-security-policy", "")
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_protected(response) -> None:
    for name, value in REQUIRED.items():
        assert response.headers.get(name) == value, (name, response.headers)
    policy = _policy(response)
    # Scripts and styles from this site's files only: no inline code, no eval, no other host.
    assert policy.get("script-src") == ["'self'"], policy
    assert policy.get("style-src") == ["'self'"], policy
    assert policy.get("default-src") == ["'self'"], policy
    assert policy.get("frame-ancestors") == ["'none'"], policy
    assert policy.get("object-src") == ["'none'"], policy
    assert policy.get("base-uri") == ["'none'"], policy


@pytest.fixture
def boom(app):
    """A route that fails with an unexpected exception, to see the 500 answer."""

    def fail():
        raise RuntimeError("boom")

    app.add_api_route("/boom", fail)
    app.add_api_route("/api/v1/boom", fail)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client


class TestEveryResponse:
    def test_html_page(self, client):
        response = client.get("/login")
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        _assert_protected(response)

    def test_json(self, client):
        response = client.get("/healthz")
        assert response.status_code == 200
        _assert_protected(response)

    def test_api_error(self, client):
        response = client.get("/api/v1/me")
        assert response.status_code == 401
        _assert_protected(response)

    def test_html_error_page(self, client):
        response = client.get("/no/such/page")
        assert response.status_code == 404
        _assert_protected(response)

    def test_redirect(self, client):
        response = client.get("/")
        assert response.status_code == 303
        _assert_protected(response)

    @pytest.mark.parametrize("path", ["/static/js/studio.js", "/static/css/studio.css"])
    def test_static_file(self, client, path):
        response = client.get(path)
        assert response.status_code == 200
        _assert_protected(response)

    def test_missing_static_file(self, client):
        response = client.get("/static/js/nothing-here.js")
        assert response.status_code == 404
        _assert_protected(response)

    @pytest.mark.parametrize("path", ["/boom", "/api/v1/boom"])
    def test_unexpected_failure(self, boom, path):
        response = boom.get(path)
        assert response.status_code == 500
        _assert_protected(response)

    def test_api_docs_page(self, client):
        """The docs page starts Swagger UI from a file: it carries no inline script."""
        response = client.get("/docs")
        assert response.status_code == 200
        _assert_protected(response)
        assert "<script>" not in response.text and "<script " in response.text
        for script in response.text.split("<script")[1:]:
            assert script.lstrip().startswith("src="), script[:80]


def _production(settings: Settings, monkeypatch, **changes) -> Settings:
    """The test settings, read with ``STUDIO_ENV=production`` in the environment."""
    monkeypatch.setenv("STUDIO_ENV", "production")
    fields = ("database_url", "var_dir", "secret_key", "admin_password", "background_threads")
    production = Settings(**{name: getattr(settings, name) for name in fields}, **changes)
    assert production.env == "production"
    return production


def _sign_in(client: TestClient, email: str):
    """The sign-in page and the sign-in answer, each with the cookies it set."""
    page = client.get("/login")
    csrf = csrf_from(page.text)
    done = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf})
    assert done.status_code == 303, done.text
    return page, done


def _set_cookies(*responses) -> dict[str, str]:
    """Cookie name → its Set-Cookie line, for cookies that are set (not deleted)."""
    found = {}
    for response in responses:
        for line in response.headers.get_list("set-cookie"):
            name = line.split("=", 1)[0]
            if "max-age=0" not in line.lower() and "expires=thu, 01 jan 1970" not in line.lower():
                found[name] = line
    return found


def _secure(line: str) -> bool:
    return "secure" in [part.strip().lower() for part in line.split(";")]


class TestProduction:
    def test_cookies_are_secure_and_hsts_is_sent(
        self, settings, engine, db_session, admin_user, monkeypatch
    ):
        app = create_app(_production(settings, monkeypatch), engine=engine)
        _share_session(app, db_session)
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
            page, done = _sign_in(client, admin_user.email)
            cookies = _set_cookies(page, done)
            assert {SESSION_COOKIE, PRELOGIN_COOKIE} <= set(cookies), cookies
            assert {name: _secure(line) for name, line in cookies.items()} == dict.fromkeys(
                cookies, True
            )
            static = client.get("/static/js/studio.js")
            for response in (page, done, client.get("/healthz"), static):
                hsts = response.headers.get("strict-transport-security", "")
                assert hsts.startswith("max-age="), response.headers
                assert int(hsts.removeprefix("max-age=").split(";")[0]) >= 180 * 24 * 3600

    def test_development_sends_neither(self, client, admin_user):
        page, done = _sign_in(client, admin_user.email)
        cookies = _set_cookies(page, done)
        assert {SESSION_COOKIE, PRELOGIN_COOKIE} <= set(cookies), cookies
        assert not any(_secure(line) for line in cookies.values())
        assert "strict-transport-security" not in page.headers
        assert "strict-transport-security" not in done.headers

    def test_an_explicit_setting_wins_over_the_environment(
        self, settings, engine, db_session, admin_user, monkeypatch
    ):
        app = create_app(_production(settings, monkeypatch, secure_cookies=False), engine=engine)
        _share_session(app, db_session)
        with TestClient(app, follow_redirects=False) as client:
            page, done = _sign_in(client, admin_user.email)
            assert not any(_secure(line) for line in _set_cookies(page, done).values())
            assert "strict-transport-security" not in done.headers


def _share_session(app, db_session) -> None:
    """Run the app's requests in the test's transaction, as the ``app`` fixture does."""

    def session_in_test_transaction():
        db_session.commit()
        try:
            yield db_session
            db_session.commit()
        except BaseException:
            db_session.rollback()
            raise

    app.dependency_overrides[get_session] = session_in_test_transaction
    app.state.open_session = lambda: nullcontext(db_session)


def test_the_compose_deployment_keeps_secure_cookies_on_by_default():
    """docker-compose.yml is the production shape: it must not turn Secure cookies (and so
    HSTS) off unless the operator says so."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["web"]["environment"]
    assert env["STUDIO_ENV"] == "production"
    value = str(env.get("STUDIO_SECURE_COOKIES", ""))
    default = re.fullmatch(r"\$\{STUDIO_SECURE_COOKIES:-(\w*)\}", value)
    resolved = default.group(1) if default else value
    assert resolved in ("", "true", "True", "1"), value
