"""Signing in and out, throttling, cookies, deactivation."""

from __future__ import annotations

from sqlalchemy import select

from app.models import AuditEvent, LoginFailure, User
from tests.factories import PASSWORD, make_user
from tests.helpers import csrf_from, login


def _post_login(client, email, password):
    page = client.get("/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )


class TestLogin:
    def test_success_sets_a_hardened_session_cookie(self, client, admin_user):
        response = _post_login(client, admin_user.email, PASSWORD)
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        cookie = response.headers["set-cookie"]
        assert "studio_session=" in cookie
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" not in cookie
        assert client.get("/").status_code == 200

    def test_secure_flag_when_configured(self, app, admin_user):
        from fastapi.testclient import TestClient

        app.state.settings.secure_cookies = True
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
            response = _post_login(client, admin_user.email, PASSWORD)
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]

    def test_wrong_password_and_unknown_email_get_the_same_answer(self, client, admin_user):
        wrong = _post_login(client, admin_user.email, "nope-nope-nope")
        unknown = _post_login(client, "ghost@example.org", "nope-nope-nope")
        assert wrong.status_code == unknown.status_code == 400
        assert "Email or password is incorrect." in wrong.text
        assert "Email or password is incorrect." in unknown.text
        assert 'value="ghost@example.org"' in unknown.text  # what was typed is kept

    def test_failures_are_audited(self, client, db_session, admin_user):
        _post_login(client, admin_user.email, "bad-password")
        actions = db_session.scalars(select(AuditEvent.action)).all()
        assert "login.failed" in actions

    def test_throttled_after_repeated_failures_even_with_the_right_password(
        self, app, client, admin_user, clock
    ):
        limit = app.state.settings.login_max_failures
        for _ in range(limit):
            assert _post_login(client, admin_user.email, "bad-password").status_code == 400
        blocked = _post_login(client, admin_user.email, PASSWORD)
        assert blocked.status_code == 429
        assert "Too many failed sign-ins. Try again in 1 seconds." in blocked.text
        assert blocked.headers["Retry-After"] == "1"
        assert "studio_session" not in blocked.headers.get("set-cookie", "")
        clock.advance(1)
        assert _post_login(client, admin_user.email, PASSWORD).status_code == 303

    def test_throttling_does_not_reveal_unknown_accounts(self, app, client, clock):
        for _ in range(app.state.settings.login_max_failures):
            _post_login(client, "ghost@example.org", "bad-password")
        assert _post_login(client, "ghost@example.org", "x").status_code == 429

    def test_each_further_failure_doubles_the_wait_up_to_the_cap(
        self, app, client, admin_user, clock
    ):
        settings = app.state.settings
        settings.login_max_delay_seconds = 10
        for _ in range(settings.login_max_failures):
            _post_login(client, admin_user.email, "bad-password")
        waits = []
        for _ in range(6):
            blocked = _post_login(client, admin_user.email, "bad-password")
            waits.append(int(blocked.headers["Retry-After"]))
            clock.advance(waits[-1])
            assert _post_login(client, admin_user.email, "bad-password").status_code == 400
        assert waits == [1, 2, 4, 8, 10, 10]

    def test_the_wait_counts_from_the_last_failure(self, app, client, admin_user, clock):
        for _ in range(app.state.settings.login_max_failures + 2):
            clock.advance(10)
            _post_login(client, admin_user.email, "bad-password")
        clock.advance(1)
        assert _post_login(client, admin_user.email, PASSWORD).headers["Retry-After"] == "3"

    def test_old_failures_stop_counting_and_are_pruned(
        self, app, client, db_session, admin_user, clock
    ):
        settings = app.state.settings
        for _ in range(settings.login_max_failures):
            _post_login(client, admin_user.email, "bad-password")
        clock.advance(settings.login_window_minutes * 60 + 1)
        assert _post_login(client, "someone@example.org", "bad-password").status_code == 400
        emails = db_session.scalars(select(LoginFailure.email)).all()
        assert emails == ["someone@example.org"]
        assert _post_login(client, admin_user.email, PASSWORD).status_code == 303

    def test_a_sign_in_forgets_only_its_own_address_failures(
        self, app, client, db_session, admin_user, clock
    ):
        from fastapi.testclient import TestClient

        with TestClient(app, client=("192.0.2.7", 1), follow_redirects=False) as elsewhere:
            _post_login(elsewhere, admin_user.email, "a-guess")
        _post_login(client, admin_user.email, "a-typo")
        assert _post_login(client, admin_user.email, PASSWORD).status_code == 303
        left = db_session.scalars(select(LoginFailure.address)).all()
        assert left == ["192.0.2.7"]  # someone else's guess still counts

    def test_next_stays_on_this_site(self, client, admin_user):
        page = client.get("/login?next=//evil.example/x")
        response = client.post(
            "/login",
            data={
                "email": admin_user.email,
                "password": PASSWORD,
                "csrf_token": csrf_from(page.text),
                "next": "https://evil.example/",
            },
        )
        assert response.headers["location"] == "/"

    def test_anonymous_page_visit_redirects_to_login_with_next(self, client):
        response = client.get("/admin/users")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/admin/users"

    def test_passwords_are_argon2_hashed_at_rest(self, db_session, admin_user):
        stored = db_session.scalar(select(User.password_hash).where(User.id == admin_user.id))
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored


class TestSessions:
    def test_logout_ends_the_session_server_side(self, client, admin_user):
        csrf = login(client, admin_user.email)
        cookie = client.cookies.get("studio_session")
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
        client.cookies.set("studio_session", cookie)  # replaying the old cookie fails
        assert client.get("/").status_code == 303

    def test_deactivated_user_is_out_at_once(self, client, db_session, admin_user):
        other = make_user(db_session, role="annotator")
        from fastapi.testclient import TestClient

        with TestClient(client.app, follow_redirects=False) as other_client:
            login(other_client, other.email)
            assert other_client.get("/").status_code == 200
            csrf = login(client, admin_user.email)
            response = client.post(
                f"/admin/users/{other.id}/active",
                data={"active": "false", "version": other.version, "csrf_token": csrf},
            )
            assert response.status_code == 303
            assert other_client.get("/").status_code == 303
            assert _post_login(other_client, other.email, PASSWORD).status_code == 400

    def test_tampered_cookie_is_ignored(self, client, admin_user):
        login(client, admin_user.email)
        value = client.cookies.get("studio_session")
        client.cookies.clear()
        client.cookies.set("studio_session", value[:-2] + "xx")
        assert client.get("/").status_code == 303


class TestLanguage:
    def test_user_switches_to_chinese(self, client, annotator_user):
        csrf = login(client, annotator_user.email)
        response = client.post("/me/language", data={"language": "zh", "csrf_token": csrf})
        assert response.status_code == 303
        page = client.get("/")
        assert '<html lang="zh-Hans">' in page.text
        assert "退出登录" in page.text

    def test_unknown_language_is_refused(self, client, annotator_user):
        csrf = login(client, annotator_user.email)
        response = client.post("/me/language", data={"language": "xx", "csrf_token": csrf})
        assert response.status_code == 422
