"""CSRF: cookie-authenticated state changes need the token; bearer calls do not."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import User
from tests.factories import make_token
from tests.helpers import login


def _count_users(session) -> int:
    return session.scalar(select(func.count()).select_from(User))


class TestCsrf:
    def test_form_post_without_token_is_refused_and_changes_nothing(
        self, client, db_session, admin_user
    ):
        login(client, admin_user.email)
        before = _count_users(db_session)
        response = client.post(
            "/admin/users",
            data={"email": "new@example.org", "role": "annotator", "password": "long-enough-1"},
        )
        assert response.status_code == 403
        assert _count_users(db_session) == before

    def test_wrong_token_is_refused(self, client, db_session, admin_user):
        login(client, admin_user.email)
        response = client.post(
            "/admin/users",
            data={
                "email": "new@example.org",
                "role": "annotator",
                "password": "long-enough-1",
                "csrf_token": "forged",
            },
        )
        assert response.status_code == 403

    def test_htmx_header_token_is_accepted(self, client, db_session, admin_user):
        csrf = login(client, admin_user.email)
        response = client.post(
            "/admin/users",
            data={"email": "new@example.org", "role": "annotator", "password": "long-enough-1"},
            headers={"HX-Request": "true", "X-CSRF-Token": csrf},
        )
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/admin/users"

    def test_cookie_json_api_call_needs_the_token_too(self, client, admin_user):
        csrf = login(client, admin_user.email)
        body = {"email": "json@example.org", "role": "reviewer", "password": "long-enough-1"}
        assert client.post("/api/v1/users", json=body).status_code == 403
        ok = client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 201

    def test_bearer_calls_are_exempt(self, client, db_session, admin_user):
        token = make_token(db_session, scope="user", owner=admin_user)
        response = client.post(
            "/api/v1/users",
            json={"email": "bearer@example.org", "role": "annotator", "password": "long-enough-1"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201

    def test_login_form_needs_the_prelogin_token(self, client, admin_user):
        client.get("/login")
        response = client.post("/login", data={"email": admin_user.email, "password": "x"})
        assert response.status_code == 403
