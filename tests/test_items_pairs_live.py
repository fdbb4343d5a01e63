"""The live checks of a preference pair in the editor: each response with its own constraint
verdicts and counts, the preview, empty fields, identical responses and near-duplicates."""

from __future__ import annotations

import re

import pytest

from tests.editor_helpers import check_live, editor_project
from tests.helpers import login
from tests.pair_editor_helpers import CHOSEN, REJECTED, TURNS, make_pair, pair_form


@pytest.fixture
def project(db_session, admin_user, annotator_user, reviewer_user):
    return editor_project(db_session, admin_user, annotator_user, reviewer_user)


def live(client, csrf, project, **fields):
    data = pair_form(**fields)
    data.pop("action")
    return check_live(client, csrf, project, **data)


def verdicts(html: str, side: str) -> list[tuple[str, str]]:
    block = html.split(f'id="verdicts-{side}"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'data-constraint="([^"]+)" data-state="(\w+)"', block)


def box(html: str, field: str) -> str:
    """What the live checks put beside one response box (an out-of-band swap)."""
    start = html.index(f'<div class="response-checks" id="checks-{field}" hx-swap-oob="true">')
    return html[start:].split("\n</div>", 1)[0]


class TestLiveChecks:
    LOWERCASE = {"constraint_row": ["0"], "c.0.id": "change_case:english_lowercase"}

    def test_each_response_has_its_own_verdicts_and_counts(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        page = live(client, csrf, project, chosen="all lower case here", **self.LOWERCASE)
        assert page.status_code == 200
        assert verdicts(page.text, "chosen") == [("change_case:english_lowercase", "pass")]
        assert verdicts(page.text, "rejected") == [("change_case:english_lowercase", "fail")]
        chosen, rejected = box(page.text, "output"), box(page.text, "rejected")
        assert "data-words>4<" in chosen and "data-chars>19<" in chosen
        assert f"data-words>{len(REJECTED.split())}<" in rejected
        assert f"data-chars>{len(REJECTED)}<" in rejected
        # The counts table names both responses.
        counts = page.text.split('id="counts"', 1)[1].split("</table>", 1)[0]
        assert "Chosen response" in counts and "Rejected response" in counts
        assert ">Output<" not in counts

    def test_a_pair_without_constraints_has_counts_and_no_verdicts(
        self, client, annotator_user, project
    ):
        csrf = login(client, annotator_user.email)
        page = live(client, csrf, project)
        assert 'id="verdicts-chosen"' not in page.text
        assert "data-words>" in box(page.text, "rejected")

    def test_the_preview_shows_the_prompt_and_both_answers(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        page = live(client, csrf, project, prompt_form="turns")
        preview = page.text.split('id="preview"', 1)[1]
        roles = re.findall(r'class="msg msg-(\w+)" data-role', preview)
        assert roles == [role for role, _ in TURNS]
        assert "Turn 3 · user" in preview  # a prompt of turns is numbered
        assert "Stale" not in preview  # the other prompt forms' fields do not count
        answers = re.findall(
            r'data-side="(\w+)"><h3 class="role">([^<]*)</h3><pre class="wrap">([^<]*)</pre>',
            preview,
        )
        assert answers == [
            ("chosen", "Chosen response", CHOSEN),
            ("rejected", "Rejected response", REJECTED),
        ]
        counted = re.findall(r"<tr data-turn=\"(\d)\">", page.text)
        assert counted == ["1", "2", "3"]

    def test_the_same_text_twice_is_flagged_on_both_boxes(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        page = live(client, csrf, project, rejected=CHOSEN)
        assert "data-same" in box(page.text, "output") and "data-same" in box(page.text, "rejected")
        assert 'id="preview"' in page.text  # the prompt still previews

    def test_empty_responses_are_listed(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        page = live(client, csrf, project, chosen="", rejected="")
        empty = page.text.split('id="empty-fields"', 1)[1].split("</ul>", 1)[0]
        assert "Empty: Chosen response" in empty and "Empty: Rejected response" in empty

    def test_a_rejected_response_over_its_limit_stops_the_checks(
        self, client, app, annotator_user, project
    ):
        app.state.settings.max_output_chars = 40
        csrf = login(client, annotator_user.email)
        page = live(client, csrf, project)
        assert "The rejected response is longer than 40 characters" in page.text
        assert 'id="preview"' not in page.text
        assert box(page.text, "rejected").count("data-words") == 0

    def test_near_duplicates_see_the_rejected_response(
        self, client, db_session, annotator_user, project
    ):
        long_rejected = (
            "The capital of France is Lyon, a city on the Rhone known for its food, its old "
            "town and its silk weavers, and it has been the capital since the Romans."
        )
        saved = make_pair(db_session, project, annotator_user, rejected=long_rejected)
        csrf = login(client, annotator_user.email)
        same = live(client, csrf, project, chosen="Paris.", rejected=long_rejected)
        assert f'href="/items/{saved.id}/edit"' in same.text.split('id="near-duplicates"', 1)[1]
        other = live(client, csrf, project, chosen="Paris.", rejected="Nice.")
        assert 'id="near-duplicates"' not in other.text

    def test_live_checks_of_other_kinds_are_unchanged(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        page = check_live(client, csrf, project, instruction="Hi", output="Hello", rejected="x")
        assert "checks-output" not in page.text and "Chosen response" not in page.text
