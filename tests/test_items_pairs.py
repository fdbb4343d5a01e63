"""Preference pairs in the item editor: a prompt in each of its three forms (an instruction and
input, demonstrations and a query, a conversation's earlier turns), the chosen and the rejected
response, errors beside their boxes, optimistic locking, and the live checks of both responses."""

from __future__ import annotations

import re

import pytest

from app.items import forms
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import Item
from tests.editor_helpers import HX, audits_of, created_item, editor_project
from tests.helpers import login
from tests.pair_editor_helpers import (
    CHOSEN,
    PROMPTS,
    REJECTED,
    TURNS,
    error_of,
    make_pair,
    pair_form,
    post_pair,
    sent_form,
)


@pytest.fixture
def project(db_session, admin_user, annotator_user, reviewer_user):
    return editor_project(db_session, admin_user, annotator_user, reviewer_user)


class TestNewPair:
    def test_the_kind_tabs_offer_a_pair(self, client, annotator_user, project):
        login(client, annotator_user.email)
        page = client.get(f"/projects/{project.id}/items/new?kind=task")
        assert f"/projects/{project.id}/items/new?kind=preference" in page.text
        assert "preference pair" in page.text

    @pytest.mark.parametrize("prompt_form", forms.PROMPT_FORMS)
    def test_the_editor_holds_every_prompt_form_and_both_responses(
        self, client, annotator_user, project, prompt_form
    ):
        login(client, annotator_user.email)
        page = client.get(f"/projects/{project.id}/items/new?kind=preference&prompt={prompt_form}")
        assert page.status_code == 200
        form = sent_form(page.text)
        assert 'name="kind" value="preference"' in form
        checked = re.findall(r'name="prompt_form" value="(\w+)" checked', form)
        assert checked == [prompt_form]
        for field in ("instruction", "input", "demo_input", "turn_content", "output", "rejected"):
            assert f'name="{field}"' in form, field
        # A pair's prompt turns start as one user turn, which the responses answer.
        assert re.findall(r'name="turn_role" value="(\w+)"', form) == ["user"]
        assert 'id="f-output" name="output"' in form and 'id="f-rejected" name="rejected"' in form
        assert 'id="checks-output"' in form and 'id="checks-rejected"' in form
        assert "data-add-constraint" in form  # constraints are checked on both responses
        assert "Alt</kbd>+<kbd>X" in page.text  # the swap key is in the page's help
        assert "/static/js/turns.js" in page.text and "/static/css/pairs.css" in page.text

    def test_an_unknown_prompt_form_is_refused(self, client, annotator_user, project):
        login(client, annotator_user.email)
        page = client.get(f"/projects/{project.id}/items/new?kind=preference&prompt=poem")
        assert page.status_code == 422


class TestSaveEachPromptForm:
    @pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
    def test_single(self, client, db_session, annotator_user, project, htmx):
        csrf = login(client, annotator_user.email)
        response = post_pair(client, csrf, project, headers=HX if htmx else {})
        assert response.status_code == (204 if htmx else 303)
        item = created_item(db_session, response)
        assert (item.kind, item.status, item.version) == ("preference", "draft", 1)
        assert (item.instruction, item.input) == (
            PROMPTS["single"]["instruction"],
            PROMPTS["single"]["input"],
        )
        assert (item.output, item.rejected) == (CHOSEN, REJECTED)
        assert (item.demos, item.turns) == ([], [])
        assert len(audits_of(db_session, item, "item.created")) == 1

    def test_few_shot(self, client, db_session, annotator_user, project):
        csrf = login(client, annotator_user.email)
        item = created_item(db_session, post_pair(client, csrf, project, prompt_form="few_shot"))
        assert item.demos == [
            {"input": "Italy", "output": "Rome is the capital of Italy."},
            {"input": "Spain", "output": "Madrid is the capital of Spain."},
        ]
        assert (item.instruction, item.input, item.turns) == ("Name the capital.", "France", [])
        assert (item.output, item.rejected) == (CHOSEN, REJECTED)

    def test_turns(self, client, db_session, annotator_user, project):
        csrf = login(client, annotator_user.email)
        item = created_item(db_session, post_pair(client, csrf, project, prompt_form="turns"))
        assert [(t["role"], t["content"]) for t in item.turns] == TURNS
        # Its instruction is its first user turn; the stale fields of the other forms are gone.
        assert (item.instruction, item.input, item.demos) == (TURNS[0][1], "", [])
        assert (item.output, item.rejected) == (CHOSEN, REJECTED)
        editor = client.get(f"/items/{item.id}/edit").text
        assert re.findall(r'name="prompt_form" value="(\w+)" checked', editor) == ["turns"]
        assert re.findall(r'name="turn_role" value="(\w+)"', sent_form(editor)) == [
            role for role, _ in TURNS
        ]
        assert f">{CHOSEN}</textarea>" in editor and f">{REJECTED}</textarea>" in editor

    @pytest.mark.parametrize("prompt_form", forms.PROMPT_FORMS)
    def test_submit(self, client, db_session, annotator_user, project, prompt_form):
        csrf = login(client, annotator_user.email)
        response = post_pair(client, csrf, project, prompt_form=prompt_form, action="submit")
        assert response.status_code == 303
        item = created_item(db_session, response)
        assert item.status == "submitted"
        assert len(audits_of(db_session, item, "item.submitted")) == 1

    def test_switching_a_saved_pair_to_another_prompt_form(
        self, client, db_session, annotator_user, project
    ):
        item = make_pair(db_session, project, annotator_user)
        csrf = login(client, annotator_user.email)
        data = {**pair_form("turns"), "version": str(item.version), "csrf_token": csrf}
        assert client.post(f"/items/{item.id}", data=data).status_code == 303
        db_session.refresh(item)
        assert (len(item.turns), item.input, item.version) == (3, "", 2)
        data = {**pair_form("single"), "version": str(item.version), "csrf_token": csrf}
        assert client.post(f"/items/{item.id}", data=data).status_code == 303
        db_session.refresh(item)
        assert (item.turns, item.instruction) == ([], PROMPTS["single"]["instruction"])

    def test_a_form_without_a_prompt_form_takes_the_one_its_fields_fill(
        self, client, db_session, annotator_user, project
    ):
        csrf = login(client, annotator_user.email)
        data = {
            "kind": "preference",
            "action": "save",
            "csrf_token": csrf,
            **PROMPTS["turns"],
            "output": CHOSEN,
            "rejected": REJECTED,
        }
        item = created_item(db_session, client.post(f"/projects/{project.id}/items", data=data))
        assert len(item.turns) == 3


class TestErrors:
    def test_submit_needs_the_rejected_response(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        draft = post_pair(client, csrf, project, rejected="")
        assert draft.status_code == 303  # a draft may wait for its second answer
        submit = post_pair(client, csrf, project, rejected="  ", action="submit")
        assert submit.status_code == 422
        assert error_of(submit.text, "rejected") == "Write the rejected response before submitting."
        assert 'id="output-error"' not in submit.text
        # The typed text comes back.
        assert f">{CHOSEN}</textarea>" in submit.text

    def test_submit_needs_the_chosen_response(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        submit = post_pair(client, csrf, project, chosen="", action="submit")
        assert submit.status_code == 422
        assert error_of(submit.text, "output") == "Write the chosen response before submitting."
        assert f">{REJECTED}</textarea>" in submit.text

    def test_the_same_response_twice_is_shown_beside_the_rejected_one(
        self, client, db_session, annotator_user, project
    ):
        csrf = login(client, annotator_user.email)
        response = post_pair(client, csrf, project, rejected=CHOSEN)
        assert response.status_code == 422
        assert error_of(response.text, "rejected") == forms.SAME_RESPONSES
        assert db_session.query(Item).filter_by(kind="preference").count() == 0

    def test_turns_ending_with_the_assistant(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        turns = {"turn_role": ["user", "assistant"], "turn_content": ["Hi", "Hello"]}
        response = post_pair(client, csrf, project, prompt_form="turns", **turns)
        assert response.status_code == 422
        assert error_of(response.text, "turns") == (
            "A pair's turns end with the user turn that the two responses answer."
        )
        assert 'id="instruction-error"' not in response.text
        assert re.findall(r'name="turn_role" value="(\w+)"', sent_form(response.text)) == [
            "user",
            "assistant",
        ]

    def test_an_empty_turn_is_shown_on_that_turn(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        turns = {"turn_role": ["user", "assistant", "user"], "turn_content": ["Hi", " ", "So?"]}
        response = post_pair(client, csrf, project, prompt_form="turns", **turns)
        assert response.status_code == 422
        assert error_of(response.text, "turns.1") == "Turn 2 (assistant) is empty."

    def test_few_shot_needs_its_query(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        response = post_pair(client, csrf, project, prompt_form="few_shot", input="")
        assert response.status_code == 422
        assert "A pair with demonstrations needs a query input after them." in response.text

    def test_a_rejected_response_over_its_limit_is_marked(
        self, client, app, annotator_user, project
    ):
        app.state.settings.max_output_chars = 40  # the chosen response fits, the rejected not
        csrf = login(client, annotator_user.email)
        response = post_pair(client, csrf, project)
        assert response.status_code == 422
        assert error_of(response.text, "rejected") == "Too long."
        assert 'id="output-error"' not in response.text
        assert "The rejected response is longer than 40 characters (it has 51)." in response.text


class TestLocking:
    def test_a_stale_version_is_a_conflict_that_keeps_the_text(
        self, client, db_session, annotator_user, reviewer_user, project
    ):
        item = make_pair(db_session, project, annotator_user)
        stale = item.version
        items.update_item(
            session=db_session,
            item_id=item.id,
            draft=ItemDraft(
                kind="preference",
                instruction="Name the capital of France.",
                output=CHOSEN,
                rejected="Marseille.",
            ),
            expected_version=stale,
            editor=reviewer_user,
        )
        csrf = login(client, annotator_user.email)
        mine = "Lyon, probably."
        data = {**pair_form(rejected=mine), "version": str(stale), "csrf_token": csrf}
        response = client.post(f"/items/{item.id}", data=data)
        assert response.status_code == 409
        assert 'id="conflict"' in response.text
        assert f">{mine}</textarea>" in response.text
        conflict = response.text.split('id="conflict"', 1)[1].split("</table>", 1)[0]
        assert "<tr><td>Rejected response</td>" in conflict and "Marseille." in conflict
        db_session.refresh(item)
        assert (item.rejected, item.version) == ("Marseille.", stale + 1)

    def test_the_right_version_saves(self, client, db_session, annotator_user, project):
        item = make_pair(db_session, project, annotator_user)
        csrf = login(client, annotator_user.email)
        data = {**pair_form(rejected="Lyon."), "version": str(item.version), "csrf_token": csrf}
        response = client.post(f"/items/{item.id}", data=data, headers=HX)
        assert response.status_code == 200
        db_session.refresh(item)
        assert (item.rejected, item.version) == ("Lyon.", 2)
