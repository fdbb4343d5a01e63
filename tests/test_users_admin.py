"""Admin pages and API for people: create, role, deactivate; optimistic locking."""

from __future__ import annotations

from sqlalchemy import select

from app.models import AuditEvent, User
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import join, make_user
from tests.helpers import login


def _create(client, csrf, headers=None, **fields):
    data = {
        "email": "new@example.org",
        "role": "annotator",
        "password": "long-enough-1",
        "display_name": "New Person",
        "language": "en",
        "csrf_token": csrf,
        **fields,
    }
    return client.post("/admin/users", data=data, headers=headers or {})


class TestCreateUser:
    def test_page_lists_people(self, client, admin_user):
        login(client, admin_user.email)
        page = client.get("/admin/users")
        assert page.status_code == 200
        assert admin_user.email in page.text
        assert "<html" in page.text

    def test_page_shows_each_persons_projects_and_roles(self, client, db_session, admin_user):
        project = projects.create_project(
            session=db_session, data=ProjectInput(name="Poems <b>"), actor=admin_user
        )
        member = make_user(db_session, email="poet@example.org")
        join(db_session, project, member, role="reviewer")
        loner = make_user(db_session, email="loner@example.org")
        login(client, admin_user.email)
        page = client.get("/admin/users").text
        row = page.split('data-user="poet@example.org"', 1)[1].split("</tr>", 1)[0]
        assert f'href="/projects/{project.id}/members">Poems &lt;b&gt;</a>' in row
        assert "(reviewer)" in row
        lonely = page.split(f'data-user="{loner.email}"', 1)[1].split("</tr>", 1)[0]
        assert "no project yet" in lonely
        mine = page.split(f'data-user="{admin_user.email}"', 1)[1].split("</tr>", 1)[0]
        assert "manages every project" in mine

    def test_htmx_request_gets_the_fragment_only(self, client, admin_user):
        login(client, admin_user.email)
        fragment = client.get("/admin/users", headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert "<html" not in fragment.text
        assert 'id="users-table"' in fragment.text

    def test_create_redirects_and_audits(self, client, db_session, admin_user):
        csrf = login(client, admin_user.email)
        response = _create(client, csrf)
        assert response.status_code == 303
        created = db_session.scalar(select(User).where(User.email == "new@example.org"))
        assert created.role == "annotator"
        event = db_session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "user.created", AuditEvent.entity_id == str(created.id)
            )
        )
        assert event.actor_id == admin_user.id
        assert event.after == {"email": "new@example.org", "role": "annotator", "is_active": True}
        assert "new@example.org" in client.get("/admin/users").text  # toast on the next page

    def test_invalid_form_comes_back_inline_keeping_the_text(self, client, admin_user):
        csrf = login(client, admin_user.email)
        response = _create(
            client, csrf, email="not-an-email", password="short", display_name="Keep Me"
        )
        assert response.status_code == 400
        assert "Enter a valid email address." in response.text
        assert "Use at least 8 characters." in response.text
        assert 'value="not-an-email"' in response.text
        assert 'value="Keep Me"' in response.text

    def test_duplicate_email_is_a_conflict(self, client, admin_user):
        csrf = login(client, admin_user.email)
        response = _create(client, csrf, email=admin_user.email)
        assert response.status_code == 409
        assert "already exists" in response.text

    def test_hostile_display_name_is_escaped(self, client, db_session, admin_user):
        csrf = login(client, admin_user.email)
        _create(client, csrf, display_name="<script>alert(1)</script><img src=x onerror=alert(2)>")
        page = client.get("/admin/users").text
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<img src=x" not in page


class TestRoleAndStatus:
    def test_change_role(self, client, db_session, admin_user):
        csrf = login(client, admin_user.email)
        other = make_user(db_session, role="annotator")
        response = client.post(
            f"/admin/users/{other.id}/role",
            data={"role": "reviewer", "version": other.version, "csrf_token": csrf},
        )
        assert response.status_code == 303
        db_session.refresh(other)
        assert other.role == "reviewer"

    def test_stale_version_answers_409_and_changes_nothing(self, client, db_session, admin_user):
        csrf = login(client, admin_user.email)
        other = make_user(db_session, role="annotator")
        stale = other.version
        client.post(
            f"/admin/users/{other.id}/role",
            data={"role": "reviewer", "version": stale, "csrf_token": csrf},
        )
        response = client.post(
            f"/admin/users/{other.id}/role",
            data={"role": "admin", "version": stale, "csrf_token": csrf},
        )
        assert response.status_code == 409
        assert "changed by someone else" in response.text
        db_session.refresh(other)
        assert other.role == "reviewer"

    def test_admin_cannot_deactivate_themselves(self, client, admin_user):
        csrf = login(client, admin_user.email)
        response = client.post(
            f"/admin/users/{admin_user.id}/active",
            data={"active": "false", "version": admin_user.version, "csrf_token": csrf},
        )
        assert response.status_code == 409


class TestUsersApi:
    def test_create_and_patch_with_versions(self, client, admin_user, db_session):
        from tests.factories import make_token

        headers = {
            "Authorization": f"Bearer {make_token(db_session, scope='user', owner=admin_user)}"
        }
        created = client.post(
            "/api/v1/users",
            headers=headers,
            json={"email": "api@example.org", "role": "annotator", "password": "long-enough-1"},
        )
        assert created.status_code == 201
        body = created.json()
        patched = client.patch(
            f"/api/v1/users/{body['id']}",
            headers=headers,
            json={"version": body["version"], "role": "reviewer"},
        )
        assert patched.status_code == 200 and patched.json()["role"] == "reviewer"
        stale = client.patch(
            f"/api/v1/users/{body['id']}",
            headers=headers,
            json={"version": body["version"], "is_active": False},
        )
        assert stale.status_code == 409
        assert stale.json()["error"] == "conflict"

    def test_validation_errors_name_the_field(self, client, admin_user, db_session):
        from tests.factories import make_token

        headers = {
            "Authorization": f"Bearer {make_token(db_session, scope='user', owner=admin_user)}"
        }
        response = client.post(
            "/api/v1/users",
            headers=headers,
            json={"email": "x@example.org", "role": "boss", "password": "p"},
        )
        assert response.status_code == 422
        fields = {e["field"] for e in response.json()["detail"]}
        assert {"role", "password"} <= fields
