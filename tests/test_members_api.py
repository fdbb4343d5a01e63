"""JSON API for a project's members: list, add, change, remove; who may call what."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.members import service as members
from app.models import AuditEvent
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import make_token, make_user


@pytest.fixture
def project(db_session, admin_user):
    return projects.create_project(
        session=db_session, data=ProjectInput(name="API members"), actor=admin_user
    )


def _bearer(session, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, scope='user', owner=user)}"}


def _join(session, project, person, role, actor, quota=None):
    members.add_member(
        session=session, project=project, user=person, role=role, actor=actor, quota=quota
    )
    return person


@pytest.fixture
def manager(db_session, project, admin_user):
    person = make_user(db_session, role="annotator", email="boss@example.org")
    _join(db_session, project, person, "manager", admin_user)
    return _bearer(db_session, person)


def _url(project, user_id=None):
    base = f"/api/v1/projects/{project.id}/members"
    return base if user_id is None else f"{base}/{user_id}"


class TestList:
    def test_reviewer_member_lists_with_counts(self, client, db_session, project, admin_user):
        reviewer = _join(db_session, project, make_user(db_session), "reviewer", admin_user, 7)
        response = client.get(_url(project), headers=_bearer(db_session, reviewer))
        assert response.status_code == 200
        (row,) = response.json()
        assert row == {
            "user_id": reviewer.id,
            "email": reviewer.email,
            "display_name": reviewer.display_name,
            "role": "reviewer",
            "quota": 7,
            "submitted": 0,
            "labeled": 0,
            "version": 1,
        }

    def test_annotator_member_is_refused(self, client, db_session, project, admin_user):
        annotator = _join(db_session, project, make_user(db_session), "annotator", admin_user)
        response = client.get(_url(project), headers=_bearer(db_session, annotator))
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"

    def test_non_member_gets_404(self, client, db_session, project):
        stranger = make_user(db_session, role="reviewer")
        response = client.get(_url(project), headers=_bearer(db_session, stranger))
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


class TestAdd:
    def test_add_by_email_is_201_and_audited(self, client, db_session, project, manager):
        person = make_user(db_session, role="reviewer", email="new@example.org")
        response = client.post(
            _url(project), json={"email": "NEW@example.org", "quota": 3}, headers=manager
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["user_id"], body["role"], body["quota"]) == (person.id, "reviewer", 3)
        event = db_session.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == "member.added", AuditEvent.entity_id == str(project.id))
            .order_by(AuditEvent.id.desc())
        )
        assert event.after["user"] == "new@example.org"

    def test_add_by_id_with_a_role(self, client, db_session, project, manager):
        person = make_user(db_session, role="admin")
        response = client.post(
            _url(project), json={"user_id": person.id, "role": "annotator"}, headers=manager
        )
        assert response.status_code == 201
        assert response.json()["role"] == "annotator"

    def test_unknown_person_is_404(self, client, project, manager):
        response = client.post(_url(project), json={"email": "ghost@example.org"}, headers=manager)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        response = client.post(_url(project), json={"user_id": 999999}, headers=manager)
        assert response.status_code == 404

    def test_already_a_member_is_409(self, client, project, manager):
        response = client.post(_url(project), json={"email": "boss@example.org"}, headers=manager)
        assert response.status_code == 409
        assert response.json()["error"] == "conflict"

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"email": "a@example.org", "user_id": 1},
            {"email": "a@example.org", "role": "owner"},
            {"email": "a@example.org", "quota": 0},
            {"email": "a@example.org", "colour": "blue"},
        ],
        ids=["nobody", "both", "bad-role", "bad-quota", "extra-field"],
    )
    def test_invalid_bodies_are_422(self, client, db_session, project, manager, body):
        make_user(db_session, email="a@example.org")
        response = client.post(_url(project), json=body, headers=manager)
        assert response.status_code == 422
        assert response.json()["error"] == "validation_error"

    def test_reviewer_member_cannot_add(self, client, db_session, project, admin_user):
        reviewer = _join(db_session, project, make_user(db_session), "reviewer", admin_user)
        other = make_user(db_session)
        response = client.post(
            _url(project), json={"user_id": other.id}, headers=_bearer(db_session, reviewer)
        )
        assert response.status_code == 403


class TestChange:
    def test_patch_changes_only_what_is_given(self, client, db_session, project, manager):
        person = _join(db_session, project, make_user(db_session), "annotator", None, 9)
        response = client.patch(
            _url(project, person.id), json={"role": "reviewer", "version": 1}, headers=manager
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["role"], body["quota"], body["version"]) == ("reviewer", 9, 2)
        response = client.patch(_url(project, person.id), json={"quota": None}, headers=manager)
        assert response.status_code == 200
        assert (response.json()["role"], response.json()["quota"]) == ("reviewer", None)
        changed = db_session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "member.changed", AuditEvent.entity_id == str(project.id)
            )
        ).all()
        assert len(changed) == 2

    def test_stale_version_is_409(self, client, db_session, project, manager):
        person = _join(db_session, project, make_user(db_session), "annotator", None)
        first = client.patch(
            _url(project, person.id), json={"quota": 4, "version": 1}, headers=manager
        )
        assert first.status_code == 200
        stale = client.patch(
            _url(project, person.id), json={"quota": 5, "version": 1}, headers=manager
        )
        assert stale.status_code == 409
        assert "changed by someone else" in stale.json()["detail"]

    def test_non_member_target_is_404(self, client, db_session, project, manager):
        outsider = make_user(db_session)
        response = client.patch(_url(project, outsider.id), json={"quota": 2}, headers=manager)
        assert response.status_code == 404

    def test_null_role_is_refused(self, client, db_session, project, manager):
        person = _join(db_session, project, make_user(db_session), "annotator", None)
        response = client.patch(_url(project, person.id), json={"role": None}, headers=manager)
        assert response.status_code == 422


class TestRemove:
    def test_delete_is_204_and_audited(self, client, db_session, project, manager):
        person = _join(db_session, project, make_user(db_session), "annotator", None)
        response = client.delete(_url(project, person.id), headers=manager)
        assert response.status_code == 204
        assert response.content == b""
        assert members.find(db_session, project_id=project.id, user_id=person.id) is None
        assert db_session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "member.removed", AuditEvent.entity_id == str(project.id)
            )
        )
        again = client.delete(_url(project, person.id), headers=manager)
        assert again.status_code == 404

    def test_id_beyond_the_integer_range_is_422(self, client, project, manager):
        response = client.delete(_url(project, 2**40), headers=manager)
        assert response.status_code == 422


def test_me_lists_the_callers_projects_and_roles(client, db_session, project, admin_user):
    other = projects.create_project(
        session=db_session, data=ProjectInput(name="Another team"), actor=admin_user
    )
    person = make_user(db_session, email="two-hats@example.org")
    _join(db_session, project, person, "manager", admin_user)
    _join(db_session, other, person, "annotator", admin_user)
    projects.create_project(
        session=db_session, data=ProjectInput(name="Not mine"), actor=admin_user
    )
    me = client.get("/api/v1/me", headers=_bearer(db_session, person)).json()
    assert me["memberships"] == [
        {"project_id": project.id, "project": "API members", "role": "manager"},
        {"project_id": other.id, "project": "Another team", "role": "annotator"},
    ]
