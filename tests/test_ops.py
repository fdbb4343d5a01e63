"""Health, API docs from vendored assets, error shapes and pages."""

from __future__ import annotations

import re

from app.auth.deps import Annotator
from app.errors import Conflict, DomainError
from tests.helpers import login


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_docs_page_names_no_external_host(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui" in page.text
    hosts = re.findall(r"(?:https?:)?//[\w.-]+", page.text)
    assert hosts == [], hosts


def test_vendored_assets_are_served(client):
    for path in (
        "/static/vendor/htmx-2.0.11/htmx.min.js",
        "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js",
        "/static/css/studio.css",
        "/static/js/studio.js",
    ):
        assert client.get(path).status_code == 200, path


def test_openapi_lists_the_api(client):
    spec = client.get("/openapi.json").json()
    assert "/api/v1/me" in spec["paths"]


def test_api_errors_are_json_shaped(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert set(response.json()) == {"error", "detail"}
    assert client.get("/api/v1/users").json()["error"] == "not_authenticated"


def test_html_errors_use_the_layout(client, annotator_user):
    login(client, annotator_user.email)
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert 'data-status="404"' in missing.text and "<html" in missing.text
    forbidden = client.get("/admin/users")
    assert forbidden.status_code == 403
    assert 'data-status="403"' in forbidden.text


def test_an_unknown_address_answers_in_the_readers_language(client, db_session):
    from tests.factories import make_user

    reader = make_user(db_session, email="li@example.org", language="zh")
    login(client, reader.email)
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert "此地址没有内容。" in missing.text
    assert "退出登录" in missing.text  # the signed-in menu, not the anonymous one


def test_htmx_is_configured_to_swap_validation_and_conflict_responses(client, admin_user):
    login(client, admin_user.email)
    page = client.get("/").text
    config = re.search(r'name="htmx-config" content=\'([^\']+)\'', page).group(1)
    assert '"code":"(400|409|422)","swap":true' in config


def _raise(error: Exception):
    def handler(user: Annotator) -> None:
        raise error

    return handler


def test_error_pages_share_the_layout(app, annotator_user):
    from fastapi.testclient import TestClient

    app.add_api_route("/test/bad", _raise(DomainError("A plain domain error.")))
    app.add_api_route("/test/conflict", _raise(Conflict("Someone else saved first.")))
    app.add_api_route("/test/crash", _raise(RuntimeError("boom")))
    app.add_api_route("/api/v1/test/crash", _raise(RuntimeError("boom")))
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        login(client, annotator_user.email)
        for path, status, text in (
            ("/test/bad", 400, "A plain domain error."),
            ("/test/conflict", 409, "Someone else saved first."),
            ("/test/crash", 500, "The error has been logged."),
        ):
            page = client.get(path)
            assert page.status_code == status, path
            assert f'data-status="{status}"' in page.text and text in page.text
            assert 'href="/static/css/studio.css"' in page.text and "Sign out" in page.text
            assert "boom" not in page.text
        crash = client.get("/api/v1/test/crash")
        assert crash.status_code == 500
        assert crash.json() == {"error": "internal_error", "detail": "Internal server error."}
