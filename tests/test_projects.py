"""Project pages: create and edit (admins), versioned guidelines, sanitized Markdown, access."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.models import AuditEvent, GuidelineVersion, Project
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import join
from tests.helpers import login


def _form(csrf, **fields):
    return {
        "name": "Poetry",
        "description": "Short poems",
        "guidelines": "# Rules\n\nWrite **carefully**.",
        "domains": "poetry, 诗歌",
        "tags": "rhyme",
        "languages": ["en", "zh"],
        "approvals_needed": "1",
        "labeling_overlap": "1",
        "blind_mode": ["false"],
        "csrf_token": csrf,
        **fields,
    }


def _create(client, csrf, **fields):
    return client.post("/projects/new", data=_form(csrf, **fields))


def _make_project(session, actor, name="Existing", guidelines="Version one text."):
    return projects.create_project(
        session=session, data=ProjectInput(name=name, guidelines=guidelines), actor=actor
    )


def _edit(client, csrf, project, **fields):
    return client.post(
        f"/projects/{project.id}/edit",
        data=_form(csrf, name=project.name, version=str(project.version), **fields),
    )


class TestCreateProject:
    def test_form_page(self, client, admin_user):
        login(client, admin_user.email)
        page = client.get("/projects/new")
        assert page.status_code == 200
        assert 'name="guidelines"' in page.text

    def test_create_redirects_and_audits(self, client, db_session, admin_user):
        csrf = login(client, admin_user.email)
        response = _create(client, csrf)
        assert response.status_code == 303
        project = db_session.scalar(select(Project).where(Project.name == "Poetry"))
        assert response.headers["location"] == f"/projects/{project.id}"
        assert project.guideline_version == 1
        assert project.label_schema["domains"] == ["poetry", "诗歌"]
        assert project.languages == ["en", "zh"]
        assert project.created_by == admin_user.id
        event = db_session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "project.created", AuditEvent.entity_id == str(project.id)
            )
        )
        assert event.actor_id == admin_user.id
        assert event.after["name"] == "Poetry"
        rows = db_session.scalars(
            select(GuidelineVersion).where(GuidelineVersion.project_id == project.id)
        ).all()
        assert [(r.version, r.guidelines) for r in rows] == [(1, "# Rules\n\nWrite **carefully**.")]
        page = client.get(f"/projects/{project.id}")
        assert page.status_code == 200
        assert "<strong>carefully</strong>" in page.text

    def test_invalid_form_comes_back_inline_keeping_the_text(self, client, db_session, admin_user):
        csrf = login(client, admin_user.email)
        response = _create(
            client,
            csrf,
            name="   ",
            description="Keep this description",
            guidelines="Keep these guidelines 保留",
            labeling_overlap="11",
            languages=[],
        )
        assert response.status_code == 400
        assert "Please fix the highlighted fields." in response.text
        assert 'class="field-error" id="name-error">Required.' in response.text
        assert "Between 1 and 10." in response.text
        assert "Choose English, Chinese or both." in response.text
        assert "Keep this description</textarea>" in response.text
        assert "Keep these guidelines 保留</textarea>" in response.text
        assert 'value="11"' in response.text
        assert db_session.scalar(select(func.count()).select_from(Project)) == 0

    def test_duplicate_name_is_a_conflict(self, client, db_session, admin_user):
        _make_project(db_session, admin_user, name="Poetry")
        csrf = login(client, admin_user.email)
        response = _create(client, csrf, description="typed again")
        assert response.status_code == 409
        assert "already exists" in response.text
        assert "typed again</textarea>" in response.text
        assert db_session.scalar(select(func.count()).select_from(Project)) == 1


class TestGuidelineVersions:
    def test_editing_guidelines_makes_a_new_version(self, client, db_session, admin_user):
        project = _make_project(db_session, admin_user)
        csrf = login(client, admin_user.email)
        assert client.get(f"/projects/{project.id}/edit").status_code == 200
        response = _edit(client, csrf, project, guidelines="Version two text.")
        assert response.status_code == 303
        db_session.refresh(project)
        assert project.guideline_version == 2
        assert project.guidelines == "Version two text."
        rows = db_session.scalars(
            select(GuidelineVersion)
            .where(GuidelineVersion.project_id == project.id)
            .order_by(GuidelineVersion.version)
        ).all()
        assert [(r.version, r.guidelines) for r in rows] == [
            (1, "Version one text."),
            (2, "Version two text."),
        ]
        assert rows[1].editor_id == admin_user.id
        old = client.get(f"/projects/{project.id}/guidelines/1")
        assert old.status_code == 200
        assert "Version one text." in old.text
        assert "Version two text." not in old.text
        current = client.get(f"/projects/{project.id}")
        assert "Version two text." in current.text
        assert f"/projects/{project.id}/guidelines/1" in current.text
        assert db_session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "project.updated", AuditEvent.entity_id == str(project.id)
            )
        )

    def test_settings_edit_without_guideline_change_keeps_the_version(
        self, client, db_session, admin_user
    ):
        project = _make_project(db_session, admin_user)
        csrf = login(client, admin_user.email)
        response = _edit(client, csrf, project, guidelines="Version one text.", description="new")
        assert response.status_code == 303
        db_session.refresh(project)
        assert project.guideline_version == 1
        assert project.description == "new"
        count = select(func.count()).select_from(GuidelineVersion)
        assert db_session.scalar(count.where(GuidelineVersion.project_id == project.id)) == 1

    def test_blind_mode_checkbox_and_rename_conflict(self, client, db_session, admin_user):
        project = _make_project(db_session, admin_user)
        _make_project(db_session, admin_user, name="Taken")
        csrf = login(client, admin_user.email)
        response = _edit(client, csrf, project, blind_mode=["false", "true"])
        assert response.status_code == 303
        db_session.refresh(project)
        assert project.blind_mode is True
        renamed = client.post(
            f"/projects/{project.id}/edit",
            data=_form(csrf, name="Taken", version=str(project.version), description="kept"),
        )
        assert renamed.status_code == 409
        assert "A project named Taken already exists." in renamed.text
        assert "kept</textarea>" in renamed.text
        db_session.refresh(project)
        assert project.name == "Existing"

    def test_unknown_version_is_404(self, client, db_session, admin_user):
        project = _make_project(db_session, admin_user)
        login(client, admin_user.email)
        assert client.get(f"/projects/{project.id}/guidelines/7").status_code == 404
        assert client.get("/projects/999999").status_code == 404

    def test_stale_version_answers_409_and_changes_nothing(self, client, db_session, admin_user):
        project = _make_project(db_session, admin_user)
        stale = project.version
        csrf = login(client, admin_user.email)
        assert _edit(client, csrf, project, guidelines="First edit.").status_code == 303
        response = client.post(
            f"/projects/{project.id}/edit",
            data=_form(csrf, name=project.name, version=str(stale), guidelines="Second edit."),
        )
        assert response.status_code == 409
        assert "changed by someone else" in response.text
        assert "Second edit.</textarea>" in response.text  # the typed text is kept
        db_session.refresh(project)
        assert project.guidelines == "First edit."
        assert project.guideline_version == 2


class TestGuidelinesAreSanitized:
    HOSTILE = (
        "<script>alert(1)</script>\n\n"
        "[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) <javascript:alert(1)>\n\n"
        '<img src=x onerror="alert(2)">\n\n'
        "[ok](https://example.org)"
    )

    def _check(self, html):
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert not re.search(r"href\s*=\s*[\"']?\s*javascript:", html, re.IGNORECASE)
        assert "<img src=x" not in html
        assert 'href="https://example.org"' in html

    def test_detail_and_version_pages(self, client, db_session, admin_user, annotator_user):
        project = _make_project(db_session, admin_user, guidelines=self.HOSTILE)
        join(db_session, project, annotator_user)
        login(client, annotator_user.email)
        self._check(client.get(f"/projects/{project.id}").text)
        self._check(client.get(f"/projects/{project.id}/guidelines/1").text)

    def test_edit_form_keeps_the_source_escaped(self, client, db_session, admin_user):
        project = _make_project(db_session, admin_user, guidelines=self.HOSTILE)
        login(client, admin_user.email)
        page = client.get(f"/projects/{project.id}/edit").text
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


class TestAccess:
    def test_annotator_can_view(self, client, db_session, admin_user, annotator_user):
        project = _make_project(db_session, admin_user)
        join(db_session, project, annotator_user)
        login(client, annotator_user.email)
        listing = client.get("/projects")
        assert listing.status_code == 200
        assert "Existing" in listing.text
        assert "/projects/new" not in listing.text
        detail = client.get(f"/projects/{project.id}")
        assert detail.status_code == 200
        assert f"/projects/{project.id}/edit" not in detail.text
        assert client.get(f"/projects/{project.id}/guidelines/1").status_code == 200

    def test_annotator_cannot_create_or_edit(self, client, db_session, admin_user, annotator_user):
        project = _make_project(db_session, admin_user)
        join(db_session, project, annotator_user)
        csrf = login(client, annotator_user.email)
        assert client.get("/projects/new").status_code == 403
        assert _create(client, csrf, name="Sneaky").status_code == 403
        assert client.get(f"/projects/{project.id}/edit").status_code == 403
        assert _edit(client, csrf, project, guidelines="Hijacked").status_code == 403
        db_session.refresh(project)
        assert project.guidelines == "Version one text."
        assert db_session.scalar(select(Project).where(Project.name == "Sneaky")) is None

    def test_reviewer_cannot_edit_either(self, client, db_session, admin_user, reviewer_user):
        project = _make_project(db_session, admin_user)
        join(db_session, project, reviewer_user)
        csrf = login(client, reviewer_user.email)
        assert _edit(client, csrf, project, guidelines="Hijacked").status_code == 403

    def test_signed_out_is_sent_to_login(self, client, db_session, admin_user):
        project = _make_project(db_session, admin_user)
        response = client.get(f"/projects/{project.id}")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
