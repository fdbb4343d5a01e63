"""API tokens: shown once, hashed at rest, revocable at once, scoped."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from app.models import ApiToken
from tests.factories import make_token
from tests.helpers import csrf_from, login


class TestTokens:
    def test_created_in_the_ui_shown_once_and_hashed(self, client, db_session, admin_user):
        csrf = login(client, admin_user.email)
        page = client.post(
            "/admin/tokens", data={"name": "gpu-box-1", "scope": "worker", "csrf_token": csrf}
        )
        assert page.status_code == 200
        raw = page.text.split('class="token-value">')[1].split("<")[0]
        assert raw.startswith("st_") and len(raw) > 40
        stored = db_session.scalar(select(ApiToken).where(ApiToken.name == "gpu-box-1"))
        assert stored.token_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert stored.prefix == raw[:12]
        assert raw not in client.get("/admin/tokens").text

    def test_worker_token_answers_me_and_nothing_for_people(self, client, db_session):
        token = make_token(db_session, scope="worker")
        headers = {"Authorization": f"Bearer {token}"}
        me = client.get("/api/v1/me", headers=headers)
        assert me.status_code == 200 and me.json()["kind"] == "worker"
        assert client.get("/api/v1/users", headers=headers).status_code == 403

    def test_session_answers_me(self, client, reviewer_user):
        login(client, reviewer_user.email)
        me = client.get("/api/v1/me").json()
        assert me["kind"] == "user" and me["user"]["role"] == "reviewer"

    def test_revoked_token_stops_at_once(self, client, db_session, admin_user):
        admin_token = make_token(db_session, scope="user", owner=admin_user)
        worker_token = make_token(db_session, scope="worker")
        admin_headers = {"Authorization": f"Bearer {admin_token}"}
        assert (
            client.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {worker_token}"}
            ).status_code
            == 200
        )
        token_id = db_session.scalar(
            select(ApiToken.id).where(ApiToken.prefix == worker_token[:12])
        )
        assert client.delete(f"/api/v1/tokens/{token_id}", headers=admin_headers).status_code == 200
        refused = client.get("/api/v1/me", headers={"Authorization": f"Bearer {worker_token}"})
        assert refused.status_code == 401
        assert refused.json() == {
            "error": "not_authenticated",
            "detail": "The API token is invalid or has been revoked.",
        }

    def test_bad_token_is_refused(self, client):
        response = client.get("/api/v1/me", headers={"Authorization": "Bearer st_nope"})
        assert response.status_code == 401

    def test_user_token_of_deactivated_user_stops(self, client, db_session, admin_user):
        from app.users import service
        from tests.factories import make_user

        reviewer = make_user(db_session, role="reviewer")
        token = make_token(db_session, scope="user", owner=reviewer)
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        service.set_active(session=db_session, user_id=reviewer.id, active=False, actor=admin_user)
        assert client.get("/api/v1/me", headers=headers).status_code == 401

    def test_revoke_from_the_page(self, client, db_session, admin_user):
        csrf = login(client, admin_user.email)
        make_token(db_session, scope="worker")
        token = db_session.scalars(select(ApiToken)).first()
        response = client.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": csrf})
        assert response.status_code == 303
        db_session.refresh(token)
        assert token.revoked_at is not None
        again = client.post(
            f"/admin/tokens/{token.id}/revoke",
            data={"csrf_token": csrf_from(client.get("/admin/tokens").text)},
        )
        assert again.status_code == 409
