"""The editor's live checks (constraint verdicts, counts, the prompt preview, near-duplicates)
and hostile text, escaped wherever it is shown."""

from __future__ import annotations

import re

import pytest

from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.editor_helpers import (
    IMG,
    SCRIPT,
    check_live,
    created_item,
    editor_project,
    make_item,
    post_new,
)
from tests.factories import join, make_user
from tests.helpers import login


@pytest.fixture
def project(db_session, admin_user, annotator_user):
    return editor_project(db_session, admin_user, annotator_user)


class TestLiveChecks:
    def _no_comma(self, client, csrf, project, output):
        return check_live(
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
        join(db_session, project, make_user(db_session, email="zhang@example.org", language="zh"))
        client.cookies.clear()
        csrf = login(client, "zhang@example.org")
        assert "找到 1 个逗号。" in self._no_comma(client, csrf, project, "One, two").text

    def test_list_parameters_are_comma_separated(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        report = check_live(
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
        missing = check_live(
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
        report = check_live(
            client, csrf, project, instruction="写一句话。", output="这是一个测试。"
        )
        counts = report.text.split('id="counts"', 1)[1].split("</table>", 1)[0]
        assert re.search(r'<td>Output</td><td class="num">6</td><td class="num">7</td>', counts)
        assert 'id="empty-fields"' not in report.text
        empty = check_live(client, csrf, project, instruction="写一句话。", output="")
        assert "Empty: Output" in empty.text.split('id="empty-fields"', 1)[1]

    def test_example_demos_are_checked(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        report = check_live(
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
        mine = make_item(db_session, project, annotator_user, instruction=words)
        elsewhere = projects.create_project(
            session=db_session, data=ProjectInput(name="Elsewhere"), actor=admin_user
        )
        join(db_session, elsewhere, annotator_user)
        theirs = make_item(db_session, elsewhere, annotator_user, instruction=words)
        csrf = login(client, annotator_user.email)
        report = check_live(client, csrf, project, instruction=words.replace("Saturday", "Sunday"))
        duplicates = report.text.split('id="near-duplicates"', 1)[1].split("</div>", 1)[0]
        assert f"/items/{mine.id}/edit" in duplicates
        assert f"/items/{theirs.id}/edit" not in duplicates
        again = check_live(client, csrf, project, instruction=words, item_id=str(mine.id))
        assert 'id="near-duplicates"' not in again.text  # an item is no duplicate of itself

    @pytest.mark.parametrize("shared", [False, True])
    def test_someone_elses_private_draft_is_no_warning(
        self, client, db_session, annotator_user, project, shared
    ):
        words = (
            "Explain to a new colleague how the office coffee machine is cleaned every Friday "
            "afternoon and who keeps the spare filters in the cupboard by the window"
        )
        other = make_user(db_session, email="other-writer@example.org")
        join(db_session, project, other)
        draft = make_item(db_session, project, other, instruction=words)
        project.drafts_shared = shared
        db_session.flush()
        csrf = login(client, annotator_user.email)
        report = check_live(client, csrf, project, instruction=words.replace("Friday", "Monday"))
        assert (f"/items/{draft.id}/edit" in report.text) is shared


class TestHostileText:
    def _assert_escaped(self, html):
        assert SCRIPT not in html
        assert IMG not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html

    def test_stored_intact_and_rendered_escaped(self, client, db_session, annotator_user, project):
        csrf = login(client, annotator_user.email)
        response = post_new(
            client, csrf, project, "task", instruction=SCRIPT + IMG, output=IMG + SCRIPT
        )
        item = created_item(db_session, response)
        assert (item.instruction, item.output) == (SCRIPT + IMG, IMG + SCRIPT)
        self._assert_escaped(client.get(f"/items/{item.id}/edit").text)
        self._assert_escaped(client.get(f"/projects/{project.id}/items").text)
        live = check_live(client, csrf, project, instruction=SCRIPT + IMG, output=IMG + SCRIPT)
        assert f"/items/{item.id}/edit" in live.text.split('id="near-duplicates"', 1)[1]
        self._assert_escaped(live.text)

    def test_rejected_form_escapes_the_typed_text(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        response = post_new(
            client, csrf, project, "task", instruction=SCRIPT + IMG, output="", action="submit"
        )
        assert response.status_code == 422
        self._assert_escaped(response.text)
