"""The item editor over HTTP: three kinds, revisions and audit, optimistic locking, live checks,
hostile text."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import AuditEvent, Item, ItemRevision
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import make_user
from tests.helpers import login

HX = {"HX-Request": "true"}
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
# Whitespace, newlines, CJK and an emoji: all must survive the round trip byte for byte.
ZH_INSTRUCTION = "用一句话解释机器学习。\n  要求：通俗易懂 ✓ 😀\t"
ZH_OUTPUT = "机器学习是让计算机从数据中学习规律的方法。"

FORMS = {
    "task": {"instruction": ZH_INSTRUCTION, "input": "", "output": ZH_OUTPUT},
    "constraint": {
        "instruction": "Describe the sea in at least five words.",
        "output": "The sea is wide and deep.",
        "constraint_row": ["7"],
        "c.7.id": "length_constraints:number_words",
        "c.7.num_words": "5",
        "c.7.relation": "at least",
        "rules": "formal tone\n\n  no emojis  ",
        "state_constraints": ["false", "true"],
    },
    "example": {
        "instruction": "Translate into French.",
        "demo_input": ["one", "two", "three"],
        "demo_output": ["un", "deux", "trois"],
        "input": "four",
        "output": "quatre",
    },
}


@pytest.fixture
def project(db_session, admin_user):
    return projects.create_project(
        session=db_session,
        data=ProjectInput(name="Editor", guidelines="v1", domains=["science"]),
        actor=admin_user,
    )


def _make_item(session, project, author, instruction="Say hello.", output="Hello.", **extra):
    draft = ItemDraft(kind="task", instruction=instruction, output=output, **extra)
    return items.create_item(session=session, project=project, draft=draft, author=author)


def _post_new(client, csrf, project, kind, headers=None, **fields):
    data = {**FORMS[kind], "kind": kind, "action": "save", "csrf_token": csrf, **fields}
    return client.post(f"/projects/{project.id}/items", data=data, headers=headers or {})


def _post_update(client, csrf, item, headers=None, **fields):
    data = {
        "kind": item.kind,
        "instruction": item.instruction,
        "output": item.output,
        "action": "save",
        "version": str(item.version),
        "csrf_token": csrf,
        **fields,
    }
    return client.post(f"/items/{item.id}", data=data, headers=headers or {})


def _check(client, csrf, project, **fields):
    data = {"kind": "task", "instruction": "", "output": "", "csrf_token": csrf, **fields}
    return client.post(f"/projects/{project.id}/items/check", data=data)


def _created(session, response):
    location = response.headers.get("location") or response.headers["HX-Redirect"]
    match = re.fullmatch(r"/items/(\d+)/edit", location)
    assert match, location
    return session.get(Item, int(match.group(1)))


def _audits(session, item, action):
    return session.scalars(
        select(AuditEvent).where(AuditEvent.action == action, AuditEvent.entity_id == str(item.id))
    ).all()


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
        response = _post_new(client, csrf, project, kind, headers=HX if htmx else {})
        assert response.status_code == (204 if htmx else 303)
        item = _created(db_session, response)
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
        [event] = _audits(db_session, item, "item.created")
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
        response = _post_new(
            client, csrf, project, kind, headers=HX if htmx else {}, action="submit"
        )
        assert response.status_code == (204 if htmx else 303)
        item = _created(db_session, response)
        assert item.status == "submitted"
        assert len(_audits(db_session, item, "item.submitted")) == 1
        assert _audits(db_session, item, "item.created") == []

    def test_submit_without_output_is_refused(
        self, client, db_session, annotator_user, project, kind, htmx
    ):
        csrf = login(client, annotator_user.email)
        response = _post_new(
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
        response = _post_new(client, csrf, project, "constraint", **{"c.7.num_words": value})
        assert response.status_code == 422
        # The error sits right under the parameter's input, which keeps the typed value.
        in_place = rf'name="c\.7\.num_words"[^>]*value="{value}">\s*<p class="field-error">[^<]*'
        assert re.search(in_place + re.escape(message), response.text)
        assert "Describe the sea in at least five words.</textarea>" in response.text
        assert "formal tone\n\n  no emojis  </textarea>" in response.text
        assert db_session.scalar(select(Item)) is None

    def test_example_needs_complete_demos(self, client, db_session, annotator_user, project):
        csrf = login(client, annotator_user.email)
        response = _post_new(client, csrf, project, "example", demo_output=["un", "", "trois"])
        assert response.status_code == 422
        assert "Demonstration 2 needs an output." in response.text
        assert db_session.scalar(select(Item)) is None


class TestUpdate:
    def test_right_version_saves_a_new_revision(self, client, db_session, annotator_user, project):
        item = _make_item(db_session, project, annotator_user)
        csrf = login(client, annotator_user.email)
        response = _post_update(client, csrf, item, output="Hello, world.")
        assert response.status_code == 303
        assert response.headers["location"] == f"/items/{item.id}/edit"
        db_session.refresh(item)
        assert (item.version, item.output) == (2, "Hello, world.")
        versions = db_session.scalars(
            select(ItemRevision.version).where(ItemRevision.item_id == item.id)
        ).all()
        assert sorted(versions) == [1, 2]
        [event] = _audits(db_session, item, "item.updated")
        assert event.before["output"] == "Hello." and event.after["output"] == "Hello, world."

    def test_htmx_update_answers_200_with_a_toast(
        self, client, db_session, annotator_user, project
    ):
        item = _make_item(db_session, project, annotator_user)
        csrf = login(client, annotator_user.email)
        response = _post_update(client, csrf, item, headers=HX, output="Hi.")
        assert response.status_code == 200
        assert "toast" in response.headers["HX-Trigger"]
        assert "<html" not in response.text
        assert 'name="version" value="2"' in response.text

    def test_stale_version_is_a_conflict_that_keeps_the_text(
        self, client, db_session, annotator_user, reviewer_user, project
    ):
        item = _make_item(db_session, project, annotator_user)
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

    def test_other_annotator_cannot_edit(self, client, db_session, annotator_user, project):
        item = _make_item(db_session, project, annotator_user)
        other = make_user(db_session, role="annotator")
        csrf = login(client, other.email)
        response = _post_update(client, csrf, item, output="Taken over.")
        assert response.status_code == 403
        db_session.refresh(item)
        assert (item.output, item.version) == ("Hello.", 1)

    def test_reviewer_may_edit(self, client, db_session, annotator_user, reviewer_user, project):
        item = _make_item(db_session, project, annotator_user)
        csrf = login(client, reviewer_user.email)
        assert _post_update(client, csrf, item, output="Reviewed.").status_code == 303
        db_session.refresh(item)
        assert (item.output, item.version) == ("Reviewed.", 2)

    def test_submit_on_update(self, client, db_session, annotator_user, project):
        item = _make_item(db_session, project, annotator_user)
        csrf = login(client, annotator_user.email)
        assert _post_update(client, csrf, item, action="submit").status_code == 303
        db_session.refresh(item)
        assert item.status == "submitted"
        assert len(_audits(db_session, item, "item.submitted")) == 1


class TestLiveChecks:
    def _no_comma(self, client, csrf, project, output):
        return _check(
            client,
            csrf,
            project,
            kind="constraint",
            instruction="Write without commas.",
            output=output,
            constraint_row=["0"],
            **{"c.0.id": "punctuation:no_comma"},
        )

    def test_constraint_verdicts(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        failing = self._no_comma(client, csrf, project, "One, two")
        assert failing.status_code == 200
        assert "<html" not in failing.text
        assert 'data-constraint="punctuation:no_comma" data-state="fail"' in failing.text
        passing = self._no_comma(client, csrf, project, "One two")
        assert 'data-constraint="punctuation:no_comma" data-state="pass"' in passing.text
        assert 'id="preview"' in passing.text

    def test_counted_nouns_agree_with_the_count(self, client, db_session, annotator_user, project):
        csrf = login(client, annotator_user.email)
        assert "Found 1 comma." in self._no_comma(client, csrf, project, "One, two").text
        assert "Found 2 commas." in self._no_comma(client, csrf, project, "One, two, three").text
        make_user(db_session, email="zhang@example.org", language="zh")
        client.cookies.clear()
        csrf = login(client, "zhang@example.org")
        assert "找到 1 个逗号。" in self._no_comma(client, csrf, project, "One, two").text

    def test_list_parameters_are_comma_separated(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        report = _check(
            client,
            csrf,
            project,
            kind="constraint",
            instruction="Mention both fruits.",
            output="I like apples but not pears.",
            constraint_row=["0"],
            **{"c.0.id": "keywords:existence", "c.0.keywords": "apples, pears"},
        )
        assert report.status_code == 200
        assert 'data-constraint="keywords:existence" data-state="pass"' in report.text
        missing = _check(
            client,
            csrf,
            project,
            kind="constraint",
            instruction="Mention both fruits.",
            output="I like apples.",
            constraint_row=["0"],
            **{"c.0.id": "keywords:existence", "c.0.keywords": "apples, pears"},
        )
        assert 'data-constraint="keywords:existence" data-state="fail"' in missing.text

    def test_chinese_word_count_and_empty_fields(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        report = _check(client, csrf, project, instruction="写一句话。", output="这是一个测试。")
        counts = report.text.split('id="counts"', 1)[1].split("</table>", 1)[0]
        assert re.search(r'<td>Output</td><td class="num">6</td><td class="num">7</td>', counts)
        assert 'id="empty-fields"' not in report.text
        empty = _check(client, csrf, project, instruction="写一句话。", output="")
        assert "Empty: Output" in empty.text.split('id="empty-fields"', 1)[1]

    def test_example_demos_are_checked(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        report = _check(
            client,
            csrf,
            project,
            kind="example",
            instruction="Translate into French.",
            demo_input=["one", "two"],
            demo_output=["un", ""],
            input="four",
            output="quatre",
        )
        assert report.status_code == 200
        assert "Empty: Demo 2" in report.text

    def test_near_duplicates_in_the_same_project_only(
        self, client, db_session, admin_user, annotator_user, project
    ):
        words = (
            "Write a short friendly letter to a neighbour who has just moved into the house "
            "next door and invite the whole family over for dinner on Saturday evening"
        )
        mine = _make_item(db_session, project, annotator_user, instruction=words)
        elsewhere = projects.create_project(
            session=db_session, data=ProjectInput(name="Elsewhere"), actor=admin_user
        )
        theirs = _make_item(db_session, elsewhere, annotator_user, instruction=words)
        csrf = login(client, annotator_user.email)
        report = _check(client, csrf, project, instruction=words.replace("Saturday", "Sunday"))
        duplicates = report.text.split('id="near-duplicates"', 1)[1].split("</div>", 1)[0]
        assert f"/items/{mine.id}/edit" in duplicates
        assert f"/items/{theirs.id}/edit" not in duplicates
        again = _check(client, csrf, project, instruction=words, item_id=str(mine.id))
        assert 'id="near-duplicates"' not in again.text  # an item is no duplicate of itself


class TestHostileText:
    def _assert_escaped(self, html):
        assert SCRIPT not in html
        assert IMG not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html

    def test_stored_intact_and_rendered_escaped(self, client, db_session, annotator_user, project):
        csrf = login(client, annotator_user.email)
        response = _post_new(
            client, csrf, project, "task", instruction=SCRIPT + IMG, output=IMG + SCRIPT
        )
        item = _created(db_session, response)
        assert (item.instruction, item.output) == (SCRIPT + IMG, IMG + SCRIPT)
        self._assert_escaped(client.get(f"/items/{item.id}/edit").text)
        self._assert_escaped(client.get(f"/projects/{project.id}/items").text)
        live = _check(client, csrf, project, instruction=SCRIPT + IMG, output=IMG + SCRIPT)
        assert f"/items/{item.id}/edit" in live.text.split('id="near-duplicates"', 1)[1]
        self._assert_escaped(live.text)

    def test_rejected_form_escapes_the_typed_text(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        response = _post_new(
            client, csrf, project, "task", instruction=SCRIPT + IMG, output="", action="submit"
        )
        assert response.status_code == 422
        self._assert_escaped(response.text)
