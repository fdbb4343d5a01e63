"""The members page: list, add, change and remove, who may see it, htmx and plain forms."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.members import service as members
from app.models import AuditEvent, ProjectMember
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import make_user
from tests.helpers import login

HTMX = {"HX-Request": "true"}


@pytest.fixture
def project(db_session, admin_user):
    return projects.create_project(
        session=db_session, data=ProjectInput(name="Members test"), actor=admin_user
    )


@pytest.fixture
def manager(db_session, project, admin_user):
    """A reviewer by global role who manages this project."""
    person = make_user(db_session, role="reviewer", email="mona@example.org")
    members.add_member(
        session=db_session, project=project, user=person, role="manager", actor=admin_user
    )
    return person


def _join(session, project, actor, *, role="annotator", quota=None, email=None):
    person = make_user(session, email=email)
    members.add_member(
        session=session, project=project, user=person, role=role, actor=actor, quota=quota
    )
    return person


def _events(session, action, project):
    return session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.entity_id == str(project.id)
        )
    ).all()


def _url(project, *rest):
    return "/".join([f"/projects/{project.id}/members", *map(str, rest)])


class TestPage:
    def test_manager_sees_members_quota_and_candidates(
        self, client, db_session, project, manager, admin_user
    ):
        _join(db_session, project, admin_user, quota=10, email="quota@example.org")
        outsider = make_user(db_session, email="outside@example.org")
        login(client, manager.email)
        page = client.get(_url(project))
        assert page.status_code == 200
        assert "<html" in page.text
        assert 'data-member="quota@example.org"' in page.text
        assert 'data-member="mona@example.org"' in page.text
        assert '<meter class="bar" min="0" max="10" value="0"' in page.text
        assert "0 / 10" in page.text
        assert f'<option value="{outsider.id}"' in page.text  # may be added
        assert 'id="admins-note"' in page.text
        assert 'id="drafts-private"' in page.text

    def test_htmx_gets_the_fragment(self, client, project, manager):
        login(client, manager.email)
        fragment = client.get(_url(project), headers=HTMX)
        assert fragment.status_code == 200
        assert "<html" not in fragment.text
        assert 'id="members-table"' in fragment.text

    def test_admin_manages_every_project(self, client, project, admin_user):
        login(client, admin_user.email)
        assert client.get(_url(project)).status_code == 200

    def test_reviewer_member_is_refused(self, client, db_session, project, admin_user):
        reviewer = _join(db_session, project, admin_user, role="reviewer")
        login(client, reviewer.email)
        assert client.get(_url(project)).status_code == 403

    def test_non_member_sees_nothing(self, client, db_session, project):
        stranger = make_user(db_session, role="reviewer")
        csrf = login(client, stranger.email)
        assert client.get(_url(project)).status_code == 404
        refused = client.post(_url(project), data={"csrf_token": csrf, "user_id": stranger.id})
        assert refused.status_code == 404

    def test_project_page_links_members_for_managers(self, client, project, manager):
        login(client, manager.email)
        assert f'href="{_url(project)}"' in client.get(f"/projects/{project.id}").text

    def test_project_page_hides_the_link_from_annotators(
        self, client, db_session, project, admin_user
    ):
        annotator = _join(db_session, project, admin_user)
        login(client, annotator.email)
        page = client.get(f"/projects/{project.id}")
        assert page.status_code == 200
        assert f'href="{_url(project)}"' not in page.text


class TestAdd:
    def test_add_redirects_audits_and_toasts(self, client, db_session, project, manager):
        person = make_user(db_session, role="annotator", email="new@example.org")
        csrf = login(client, manager.email)
        response = client.post(
            _url(project),
            data={"csrf_token": csrf, "user_id": person.id, "role": "reviewer", "quota": "25"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == _url(project)
        row = members.find(db_session, project_id=project.id, user_id=person.id)
        assert (row.role, row.quota) == ("reviewer", 25)
        added = _events(db_session, "member.added", project)
        (event,) = [e for e in added if e.after["user"] == "new@example.org"]
        assert event.actor_id == manager.id
        assert "new@example.org added to the project." in client.get(_url(project)).text

    def test_empty_role_matches_the_global_role(self, client, db_session, project, manager):
        admin = make_user(db_session, role="admin")
        csrf = login(client, manager.email)
        response = client.post(
            _url(project), data={"csrf_token": csrf, "user_id": admin.id, "role": ""}
        )
        assert response.status_code == 303
        row = members.find(db_session, project_id=project.id, user_id=admin.id)
        assert (row.role, row.quota) == ("manager", None)

    def test_htmx_add_redirects_with_header(self, client, db_session, project, manager):
        person = make_user(db_session)
        csrf = login(client, manager.email)
        response = client.post(
            _url(project), data={"csrf_token": csrf, "user_id": person.id}, headers=HTMX
        )
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == _url(project)

    @pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
    def test_bad_fields_come_back_inline_keeping_input(
        self, client, db_session, project, manager, headers
    ):
        person = make_user(db_session)
        csrf = login(client, manager.email)
        response = client.post(
            _url(project),
            data={"csrf_token": csrf, "user_id": "", "role": "owner", "quota": "lots"},
            headers=headers,
        )
        assert response.status_code == 400
        assert ("<html" in response.text) == (not headers)
        assert 'id="user_id-error"' in response.text
        assert 'id="role-error"' in response.text
        assert 'id="quota-error"' in response.text
        assert 'value="lots"' in response.text
        assert members.find(db_session, project_id=project.id, user_id=person.id) is None

    def test_quota_out_of_range(self, client, db_session, project, manager):
        person = make_user(db_session)
        csrf = login(client, manager.email)
        response = client.post(
            _url(project), data={"csrf_token": csrf, "user_id": person.id, "quota": "0"}
        )
        assert response.status_code == 400
        assert 'id="quota-error"' in response.text
        assert f'<option value="{person.id}" selected' in response.text

    def test_already_a_member_is_a_conflict(self, client, db_session, project, manager):
        csrf = login(client, manager.email)
        response = client.post(_url(project), data={"csrf_token": csrf, "user_id": manager.id})
        assert response.status_code == 409
        assert "mona@example.org is already a member of this project." in response.text

    def test_csrf_is_required(self, client, db_session, project, manager):
        person = make_user(db_session)
        login(client, manager.email)
        assert client.post(_url(project), data={"user_id": person.id}).status_code == 403


class TestChange:
    def test_change_role_and_quota(self, client, db_session, project, manager, admin_user):
        person = _join(db_session, project, admin_user, quota=5)
        row = members.find(db_session, project_id=project.id, user_id=person.id)
        csrf = login(client, manager.email)
        response = client.post(
            _url(project, person.id),
            data={"csrf_token": csrf, "version": row.version, "role": "reviewer", "quota": ""},
        )
        assert response.status_code == 303
        db_session.refresh(row)
        assert (row.role, row.quota) == ("reviewer", None)
        (event,) = _events(db_session, "member.changed", project)
        assert event.before["quota"] == 5 and event.after["role"] == "reviewer"
        assert event.actor_id == manager.id

    @pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
    def test_stale_version_is_409_with_a_message(
        self, client, db_session, project, manager, admin_user, headers
    ):
        person = _join(db_session, project, admin_user)
        row = members.find(db_session, project_id=project.id, user_id=person.id)
        stale = row.version
        members.change_member(
            session=db_session,
            project_id=project.id,
            user_id=person.id,
            role="reviewer",
            quota=None,
            expected_version=stale,
            actor=admin_user,
        )
        csrf = login(client, manager.email)
        response = client.post(
            _url(project, person.id),
            data={"csrf_token": csrf, "version": stale, "role": "manager"},
            headers=headers,
        )
        assert response.status_code == 409
        assert "changed by someone else meanwhile" in response.text
        db_session.refresh(row)
        assert row.role == "reviewer"

    def test_bad_quota_shows_on_its_row(self, client, db_session, project, manager, admin_user):
        person = _join(db_session, project, admin_user)
        row = members.find(db_session, project_id=project.id, user_id=person.id)
        csrf = login(client, manager.email)
        response = client.post(
            _url(project, person.id),
            data={"csrf_token": csrf, "version": row.version, "role": "annotator", "quota": "-3"},
        )
        assert response.status_code == 400
        assert 'id="quota-error"' in response.text
        assert 'value="-3"' in response.text
        assert not _events(db_session, "member.changed", project)

    def test_manager_stepping_down_lands_on_the_project(self, client, db_session, project, manager):
        row = members.find(db_session, project_id=project.id, user_id=manager.id)
        csrf = login(client, manager.email)
        response = client.post(
            _url(project, manager.id),
            data={"csrf_token": csrf, "version": row.version, "role": "reviewer"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/projects/{project.id}"
        assert client.get(_url(project)).status_code == 403

    def test_unknown_member_is_404(self, client, db_session, project, manager):
        outsider = make_user(db_session)
        csrf = login(client, manager.email)
        response = client.post(
            _url(project, outsider.id),
            data={"csrf_token": csrf, "version": 1, "role": "annotator"},
        )
        assert response.status_code == 404


class TestRemove:
    @pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
    def test_remove_audits(self, client, db_session, project, manager, admin_user, headers):
        person = _join(db_session, project, admin_user)
        csrf = login(client, manager.email)
        response = client.post(
            _url(project, person.id, "remove"), data={"csrf_token": csrf}, headers=headers
        )
        assert response.status_code == (204 if headers else 303)
        assert members.find(db_session, project_id=project.id, user_id=person.id) is None
        (event,) = _events(db_session, "member.removed", project)
        assert event.before["user"] == person.email
        assert (
            db_session.scalar(select(ProjectMember).where(ProjectMember.user_id == person.id))
            is None
        )

    def test_manager_leaving_lands_on_the_projects(self, client, db_session, project, manager):
        csrf = login(client, manager.email)
        response = client.post(_url(project, manager.id, "remove"), data={"csrf_token": csrf})
        assert response.status_code == 303
        assert response.headers["location"] == "/projects"
        assert client.get(_url(project)).status_code == 404

    def test_annotator_member_cannot_remove(self, client, db_session, project, admin_user):
        annotator = _join(db_session, project, admin_user)
        other = _join(db_session, project, admin_user)
        csrf = login(client, annotator.email)
        response = client.post(_url(project, other.id, "remove"), data={"csrf_token": csrf})
        assert response.status_code == 403
        assert members.find(db_session, project_id=project.id, user_id=other.id) is not None
