"""The item editor over HTTP: three kinds, revisions and audit, optimistic locking."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import Item, ItemRevision
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.editor_helpers import (
    FORMS,
    HX,
    ZH_INSTRUCTION,
    audits_of,
    created_item,
    editor_project,
    make_item,
    post_new,
    post_update,
)
from tests.factories import join, make_user
from tests.helpers import login


@pytest.fixture
def project(db_session, admin_user, annotator_user, reviewer_user):
    return editor_project(db_session, admin_user, annotator_user, reviewer_user)


@pytest.mark.parametrize("kind", ["task", "constraint", "example"])
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
class TestCreateEachKind:
    def test_new_page(self, client, annotator_user, project, kind, htmx):
        login(client, annotator_user.email)
        page = client.get(
            f"/projects/{project.id}/items/new?kind={kind}", headers=HX if htmx else {}
        )
        assert page.status_code == 200
        assert ("<html" in page.text) is not htmx
        assert f'name="kind" value="{kind}"' in page.text

    def test_save_stores_revision_and_audit(
        self, client, db_session, admin_user, annotator_user, project, kind, htmx
    ):
        projects.update_project(
            session=db_session,
            project_id=project.id,
            data=ProjectInput(name="Editor", guidelines="v2"),
            expected_version=project.version,
            actor=admin_user,
        )
        csrf = login(client, annotator_user.email)
        response = post_new(client, csrf, project, kind, headers=HX if htmx else {})
        assert response.status_code == (204 if htmx else 303)
        item = created_item(db_session, response)
        form = FORMS[kind]
        assert (item.kind, item.status, item.version) == (kind, "draft", 1)
        assert item.instruction == form["instruction"]
        assert item.output == form["output"]
        assert item.author_id == annotator_user.id
        assert item.guideline_version == 2
        if kind == "task":
            assert item.language == "zh"
            assert item.instruction.encode() == ZH_INSTRUCTION.encode()
        if kind == "constraint":
            assert item.constraints == [
                {
                    "id": "length_constraints:number_words",
                    "params": {"num_words": 5, "relation": "at least"},
                }
            ]
            assert item.rules == ["formal tone", "no emojis"]
            assert item.state_constraints is True
        if kind == "example":
            assert item.demos == [
                {"input": "one", "output": "un"},
                {"input": "two", "output": "deux"},
                {"input": "three", "output": "trois"},
            ]
            assert item.input == "four"
        revision = db_session.scalar(select(ItemRevision).where(ItemRevision.item_id == item.id))
        assert (revision.version, revision.editor_id) == (1, annotator_user.id)
        assert revision.snapshot["instruction"] == form["instruction"]
        assert revision.content_hash == item.content_hash
        [event] = audits_of(db_session, item, "item.created")
        assert event.actor_id == annotator_user.id
        page = client.get(f"/items/{item.id}/edit")
        assert page.status_code == 200
        assert "Draft saved." in page.text
        assert form["instruction"] in page.text
        if kind == "example":
            assert page.text.index(">one</textarea>") < page.text.index(">two</textarea>")
            assert page.text.index(">two</textarea>") < page.text.index(">three</textarea>")

    def test_submit(self, client, db_session, annotator_user, project, kind, htmx):
        csrf = login(client, annotator_user.email)
        response = post_new(
            client, csrf, project, kind, headers=HX if htmx else {}, action="submit"
        )
        assert response.status_code == (204 if htmx else 303)
        item = created_item(db_session, response)
        assert item.status == "submitted"
        assert len(audits_of(db_session, item, "item.submitted")) == 1
        assert audits_of(db_session, item, "item.created") == []

    def test_submit_without_output_is_refused(
        self, client, db_session, annotator_user, project, kind, htmx
    ):
        csrf = login(client, annotator_user.email)
        response = post_new(
            client, csrf, project, kind, headers=HX if htmx else {}, action="submit", output=" "
        )
        assert response.status_code == 422
        assert 'id="output-error">Write the output before submitting.' in response.text
        assert 'id="form-error"' in response.text
        assert FORMS[kind]["instruction"] in response.text
        assert db_session.scalar(select(Item)) is None


class TestConstraintParams:
    @pytest.mark.parametrize(
        ("value", "message"),
        [("0", "greater than or equal to 1"), ("abc", "valid integer")],
    )
    def test_bad_num_words_is_shown_in_place(
        self, client, db_session, annotator_user, project, value, message
    ):
        csrf = login(client, annotator_user.email)
        response = post_new(client, csrf, project, "constraint", **{"c.7.num_words": value})
        assert response.status_code == 422
        # The error sits right under the parameter's input, which keeps the typed value.
        in_place = rf'name="c\.7\.num_words"[^>]*value="{value}">\s*<p class="field-error">[^<]*'
        assert re.search(in_place + re.escape(message), response.text)
        assert "Describe the sea in at least five words.</textarea>" in response.text
        assert "formal tone\n\n  no emojis  </textarea>" in response.text
        assert db_session.scalar(select(Item)) is None

    def test_example_needs_complete_demos(self, client, db_session, annotator_user, project):
        csrf = login(client, annotator_user.email)
        response = post_new(client, csrf, project, "example", demo_output=["un", "", "trois"])
        assert response.status_code == 422
        assert "Demonstration 2 needs an output." in response.text
        assert db_session.scalar(select(Item)) is None


class TestUpdate:
    def test_right_version_saves_a_new_revision(self, client, db_session, annotator_user, project):
        item = make_item(db_session, project, annotator_user)
        csrf = login(client, annotator_user.email)
        response = post_update(client, csrf, item, output="Hello, world.")
        assert response.status_code == 303
        assert response.headers["location"] == f"/items/{item.id}/edit"
        db_session.refresh(item)
        assert (item.version, item.output) == (2, "Hello, world.")
        versions = db_session.scalars(
            select(ItemRevision.version).where(ItemRevision.item_id == item.id)
        ).all()
        assert sorted(versions) == [1, 2]
        [event] = audits_of(db_session, item, "item.updated")
        assert event.before["output"] == "Hello." and event.after["output"] == "Hello, world."

    def test_htmx_update_answers_200_with_a_toast(
        self, client, db_session, annotator_user, project
    ):
        item = make_item(db_session, project, annotator_user)
        csrf = login(client, annotator_user.email)
        response = post_update(client, csrf, item, headers=HX, output="Hi.")
        assert response.status_code == 200
        assert "toast" in response.headers["HX-Trigger"]
        assert "<html" not in response.text
        assert 'name="version" value="2"' in response.text

    def test_stale_version_is_a_conflict_that_keeps_the_text(
        self, client, db_session, annotator_user, reviewer_user, project
    ):
        item = make_item(db_session, project, annotator_user)
        stale = item.version
        items.update_item(
            session=db_session,
            item_id=item.id,
            draft=ItemDraft(kind="task", instruction="Say hello.", output="Hello from Rita."),
            expected_version=stale,
            editor=reviewer_user,
        )
        before = (item.version, item.output, item.updated_at)
        csrf = login(client, annotator_user.email)
        mine = "My careful answer, 我的回答."
        response = client.post(
            f"/items/{item.id}",
            data={
                "kind": "task",
                "instruction": "Say hello.",
                "output": mine,
                "action": "save",
                "version": str(stale),
                "csrf_token": csrf,
            },
        )
        assert response.status_code == 409
        assert 'id="conflict"' in response.text
        conflict = response.text.split('id="conflict"', 1)[1].split("</section>", 1)[0]
        assert "<td>output</td>" in conflict
        assert "Hello from Rita." in conflict
        assert "<td>instruction</td>" not in conflict
        assert f'name="output" rows="6">{mine}</textarea>' in response.text
        assert 'name="version" value="2"' in response.text
        db_session.refresh(item)
        assert (item.version, item.output, item.updated_at) == before
        assert (
            db_session.scalar(
                select(ItemRevision).where(
                    ItemRevision.item_id == item.id, ItemRevision.version == 3
                )
            )
            is None
        )

    @pytest.mark.parametrize(("shared", "status"), [(True, 403), (False, 404)])
    def test_other_annotator_cannot_edit(
        self, client, db_session, annotator_user, project, shared, status
    ):
        # Another annotator may read a draft of a project that shares drafts, never change it;
        # in a project that keeps drafts private, someone else's draft is as good as missing.
        project.drafts_shared = shared
        item = make_item(db_session, project, annotator_user)
        other = make_user(db_session, role="annotator")
        join(db_session, project, other)
        csrf = login(client, other.email)
        response = post_update(client, csrf, item, output="Taken over.")
        assert response.status_code == status
        db_session.refresh(item)
        assert (item.output, item.version) == ("Hello.", 1)

    def test_reviewer_may_edit(self, client, db_session, annotator_user, reviewer_user, project):
        item = make_item(db_session, project, annotator_user)
        csrf = login(client, reviewer_user.email)
        assert post_update(client, csrf, item, output="Reviewed.").status_code == 303
        db_session.refresh(item)
        assert (item.output, item.version) == ("Reviewed.", 2)

    def test_submit_on_update(self, client, db_session, annotator_user, project):
        item = make_item(db_session, project, annotator_user)
        csrf = login(client, annotator_user.email)
        assert post_update(client, csrf, item, action="submit").status_code == 303
        db_session.refresh(item)
        assert item.status == "submitted"
        assert len(audits_of(db_session, item, "item.submitted")) == 1
