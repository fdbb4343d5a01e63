"""Conversations in the item editor and the JSON API: turns as repeated form fields, the system
prompt on every kind, errors in place per turn, optimistic locking, the live checks and the
item list."""

from __future__ import annotations

import re

import pytest

from app.items import service as items
from app.items.schemas import ItemDraft
from tests.editor_helpers import HX, check_live, created_item, editor_project, make_item
from tests.factories import make_token
from tests.helpers import login

TURNS = [
    ("user", "What is a prime number?"),
    ("assistant", "A whole number above 1 that only 1 and itself divide."),
    ("user", "Is 9 one?"),
    ("assistant", "No: 9 is 3 times 3."),
]


def turn_fields(turns) -> dict[str, list[str]]:
    return {
        "turn_role": [role for role, _ in turns],
        "turn_content": [content for _, content in turns],
    }


def post_conversation(client, csrf, project, turns=TURNS, headers=None, **fields):
    data = {
        "kind": "conversation",
        "action": "save",
        "csrf_token": csrf,
        **turn_fields(turns),
        **fields,
    }
    return client.post(f"/projects/{project.id}/items", data=data, headers=headers or {})


def make_conversation(session, project, author, turns=TURNS, **extra):
    draft = ItemDraft(
        kind="conversation",
        turns=[{"role": role, "content": content} for role, content in turns],
        **extra,
    )
    return items.create_item(session=session, project=project, draft=draft, author=author)


def roles_in(html: str) -> list[str]:
    """The roles of the turns the form sends (a <template> sends nothing)."""
    sent = re.sub(r"<template.*?</template>", "", html, flags=re.S)
    return re.findall(r'name="turn_role" value="(\w+)"', sent)


def error_of(html: str, key: str) -> str:
    match = re.search(rf'<p class="field-error" id="{re.escape(key)}-error">([^<]*)</p>', html)
    assert match, f"no error shown for {key}"
    return match.group(1)


@pytest.fixture
def project(db_session, admin_user, annotator_user, reviewer_user):
    return editor_project(db_session, admin_user, annotator_user, reviewer_user)


class TestEditorPage:
    def test_a_new_conversation_starts_with_one_empty_exchange(
        self, client, annotator_user, project
    ):
        login(client, annotator_user.email)
        page = client.get(f"/projects/{project.id}/items/new?kind=conversation")
        assert page.status_code == 200
        form = page.text.split('id="item-form"', 1)[1].split("</form>", 1)[0]
        assert roles_in(form) == ["user", "assistant"]
        assert (
            re.sub(r"<template.*?</template>", "", form, flags=re.S).count('name="turn_content"')
            == 2
        )
        assert 'name="instruction"' not in form and 'name="output"' not in form
        assert 'name="system"' in form
        assert "data-add-constraint" in form  # constraints are checked on the last turn
        assert "/static/js/turns.js" in page.text
        assert "Alt</kbd>+<kbd>Enter" in page.text  # the keys are in the page's help

    @pytest.mark.parametrize("kind", ["task", "constraint", "example"])
    def test_every_kind_offers_a_system_prompt(self, client, annotator_user, project, kind):
        login(client, annotator_user.email)
        page = client.get(f"/projects/{project.id}/items/new?kind={kind}")
        assert 'id="f-system" name="system"' in page.text
        assert 'name="turn_role"' not in page.text

    def test_a_task_saves_its_system_prompt_and_a_form_without_it_keeps_it(
        self, client, db_session, annotator_user, project
    ):
        csrf = login(client, annotator_user.email)
        data = {"kind": "task", "action": "save", "csrf_token": csrf, "output": "Hi."}
        response = client.post(
            f"/projects/{project.id}/items",
            data={**data, "instruction": "Greet me.", "system": "You are terse."},
        )
        item = created_item(db_session, response)
        assert (item.system, item.turns) == ("You are terse.", [])
        again = client.post(
            f"/items/{item.id}",
            data={**data, "instruction": "Greet me, please.", "version": str(item.version)},
        )
        assert again.status_code == 303
        db_session.refresh(item)
        assert (item.instruction, item.system) == ("Greet me, please.", "You are terse.")


class TestSave:
    @pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
    def test_create_stores_the_turns_in_order(
        self, client, db_session, annotator_user, project, htmx
    ):
        csrf = login(client, annotator_user.email)
        response = post_conversation(
            client, csrf, project, system="You teach maths.", headers=HX if htmx else {}
        )
        assert response.status_code == (204 if htmx else 303)
        item = created_item(db_session, response)
        assert item.kind == "conversation"
        assert [(t["role"], t["content"]) for t in item.turns] == TURNS
        assert (item.instruction, item.output) == (TURNS[0][1], TURNS[-1][1])
        assert item.system == "You teach maths."
        assert item.status == "draft"
        editor = client.get(f"/items/{item.id}/edit").text
        assert roles_in(editor) == [r for r, _ in TURNS]
        assert f"data-turn-text>{TURNS[2][1]}</textarea>" in editor

    def test_an_empty_turn_is_shown_on_that_turn(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        turns = [TURNS[0], TURNS[1], ("user", "  "), TURNS[3]]
        response = post_conversation(client, csrf, project, turns=turns)
        assert response.status_code == 422
        assert error_of(response.text, "turns.2") == "Turn 3 (user) is empty."
        assert 'id="turns-error"' not in response.text
        # The typed turns come back as they were sent.
        assert roles_in(response.text) == [r for r, _ in turns]
        assert f"data-turn-text>{TURNS[3][1]}</textarea>" in response.text

    def test_an_empty_first_turn_is_shown_on_turn_one(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        response = post_conversation(client, csrf, project, turns=[("user", ""), TURNS[1]])
        assert response.status_code == 422
        assert error_of(response.text, "turns.0") == "Turn 1 (user) is empty."

    def test_roles_out_of_order(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        twice = post_conversation(client, csrf, project, turns=[TURNS[0], TURNS[2], TURNS[3]])
        assert twice.status_code == 422
        assert error_of(twice.text, "turns.1").startswith("Turn 2 is a second user turn in a row")
        late = post_conversation(client, csrf, project, turns=TURNS[:3])
        assert error_of(late.text, "turns") == "A conversation ends with an assistant turn."
        odd = post_conversation(client, csrf, project, turns=[("narrator", "Once"), TURNS[1]])
        assert odd.status_code == 422
        assert "turns.0-error" in odd.text

    def test_submit_needs_the_last_assistant_turn(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        turns = [*TURNS[:3], ("assistant", "")]
        draft = post_conversation(client, csrf, project, turns=turns)
        assert draft.status_code == 303  # a draft may wait for its last answer
        submit = post_conversation(client, csrf, project, turns=turns, action="submit")
        assert submit.status_code == 422
        assert (
            error_of(submit.text, "turns.3") == "Write the last assistant turn before submitting."
        )

    def test_a_turn_over_its_limit_is_marked(self, client, app, annotator_user, project):
        app.state.settings.max_turn_chars = 30  # only turn 2 is longer
        csrf = login(client, annotator_user.email)
        response = post_conversation(client, csrf, project)
        assert response.status_code == 422
        assert error_of(response.text, "turns.1") == "Too long."
        assert "turns.0-error" not in response.text

    def test_edit_reorders_and_a_stale_version_is_a_conflict(
        self, client, db_session, annotator_user, reviewer_user, project
    ):
        item = make_conversation(db_session, project, annotator_user)
        stale = item.version
        csrf = login(client, annotator_user.email)
        swapped = [TURNS[2], TURNS[3], TURNS[0], TURNS[1]]
        data = {"kind": "conversation", "action": "save", "csrf_token": csrf}
        saved = client.post(
            f"/items/{item.id}", data={**data, **turn_fields(swapped), "version": str(stale)}
        )
        assert saved.status_code == 303
        db_session.refresh(item)
        assert [(t["role"], t["content"]) for t in item.turns] == swapped
        assert (item.instruction, item.output, item.version) == (
            TURNS[2][1],
            TURNS[1][1],
            stale + 1,
        )
        mine = [*TURNS[:3], ("assistant", "Nine is not prime: 3 × 3.")]
        conflict = client.post(
            f"/items/{item.id}", data={**data, **turn_fields(mine), "version": str(stale)}
        )
        assert conflict.status_code == 409
        assert 'id="conflict"' in conflict.text
        changed = conflict.text.split('id="conflict"', 1)[1].split("</section>", 1)[0]
        assert "<td>turns</td>" in changed
        assert "user: Is 9 one?\n" in changed  # the other save's turns, one a line
        assert "data-turn-text>Nine is not prime: 3 × 3.</textarea>" in conflict.text
        db_session.refresh(item)
        assert item.version == stale + 1


class TestApi:
    def test_create_and_update_with_optimistic_locking(
        self, client, db_session, annotator_user, project
    ):
        token = make_token(db_session, scope="user", owner=annotator_user)
        auth = {"Authorization": f"Bearer {token}"}
        body = {
            "kind": "conversation",
            "system": "Be brief.",
            "turns": [{"role": role, "content": content} for role, content in TURNS],
        }
        created = client.post(f"/api/v1/projects/{project.id}/items", json=body, headers=auth)
        assert created.status_code == 201, created.text
        item = created.json()
        assert item["turns"] == body["turns"]
        assert (item["instruction"], item["output"]) == (TURNS[0][1], TURNS[-1][1])
        assert item["system"] == "Be brief."
        longer = [*body["turns"], {"role": "user", "content": "And 11?"}]
        longer.append({"role": "assistant", "content": "Yes, 11 is prime."})
        update = {**body, "turns": longer, "version": item["version"]}
        updated = client.put(f"/api/v1/items/{item['id']}", json=update, headers=auth)
        assert updated.status_code == 200, updated.text
        assert updated.json()["output"] == "Yes, 11 is prime."
        assert len(updated.json()["turns"]) == 6
        stale = client.put(f"/api/v1/items/{item['id']}", json=update, headers=auth)
        assert stale.status_code == 409
        assert stale.json()["error"] == "conflict"
        bad = {**body, "turns": body["turns"][:3]}
        refused = client.post(f"/api/v1/projects/{project.id}/items", json=bad, headers=auth)
        assert refused.status_code == 422
        assert refused.json()["detail"] == [
            {"field": "turns", "message": "A conversation ends with an assistant turn."}
        ]
        blank = [body["turns"][0], {"role": "assistant", "content": " "}, *body["turns"][2:]]
        refused = client.post(
            f"/api/v1/projects/{project.id}/items", json={**body, "turns": blank}, headers=auth
        )
        assert refused.json()["detail"] == [
            {"field": "turns.1", "message": "Turn 2 (assistant) is empty."}
        ]


class TestLiveChecks:
    def test_counts_per_turn_and_in_total(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        turns = [("user", "两个词"), ("assistant", "one two three"), ("user", ""), TURNS[1]]
        report = check_live(client, csrf, project, kind="conversation", **turn_fields(turns))
        assert report.status_code == 200
        counts = report.text.split('id="counts"', 1)[1].split("</table>", 1)[0]
        assert re.search(r'data-turn="1"><td>Turn 1 \(user\)</td><td class="num">3</td>', counts)
        assert re.search(
            r'data-turn="2"><td>Turn 2 \(assistant\)</td><td class="num">3</td>'
            r'<td class="num">13</td>',
            counts,
        )
        total_words = 3 + 3 + 0 + len(TURNS[1][1].split())
        total_chars = 3 + 13 + 0 + len(TURNS[1][1])
        assert re.search(
            rf'data-total><td>Total</td><td class="num">{total_words}</td>'
            rf'<td class="num">{total_chars}</td>',
            counts,
        )
        assert "Empty: Turn 3 (user)" in report.text

    def test_the_preview_shows_every_turn_and_the_system_prompt(
        self, client, annotator_user, project
    ):
        csrf = login(client, annotator_user.email)
        report = check_live(
            client,
            csrf,
            project,
            kind="conversation",
            system="You teach maths.",
            **turn_fields(TURNS),
        )
        preview = report.text.split('id="preview"', 1)[1]
        roles = re.findall(r'class="msg msg-(\w+)" data-role', preview)
        assert roles == ["system", "user", "assistant", "user", "assistant"]
        assert "Turn 4 · assistant" in preview
        text = preview.split("<details>", 1)[1]
        assert "&lt;|system|&gt;\nYou teach maths." in text
        assert text.index("Is 9 one?") < text.index("No: 9 is 3 times 3.")

    def test_constraints_are_checked_on_the_last_assistant_turn(
        self, client, annotator_user, project
    ):
        csrf = login(client, annotator_user.email)
        rule = {
            "constraint_row": ["0"],
            "c.0.id": "punctuation:no_comma",
            "state_constraints": ["false", "true"],
        }
        commas = [TURNS[0], ("assistant", "Yes, well, no"), TURNS[2], ("assistant", "No.")]
        report = check_live(
            client, csrf, project, kind="conversation", **turn_fields(commas), **rule
        )
        assert 'data-constraint="punctuation:no_comma" data-state="pass"' in report.text
        last = [*commas[:3], ("assistant", "No, it is not.")]
        failing = check_live(
            client, csrf, project, kind="conversation", **turn_fields(last), **rule
        )
        assert 'data-constraint="punctuation:no_comma" data-state="fail"' in failing.text
        # The requirement is stated after the final user turn in the preview.
        preview = failing.text.split('id="preview"', 1)[1]
        assert re.search(r"Is 9 one\?\n\nRequirements:\n- ", preview)

    def test_near_duplicates_cover_every_turn(self, client, db_session, annotator_user, project):
        later = (
            "Explain how the office coffee machine is cleaned every Friday afternoon and who "
            "keeps the spare filters in the cupboard by the window near the printer"
        )
        turns = [("user", "Hello."), ("assistant", "Hi."), ("user", later), ("assistant", "Ok.")]
        mine = make_conversation(db_session, project, annotator_user, turns=turns)
        csrf = login(client, annotator_user.email)
        typed = [("user", "Hey."), ("assistant", "Hello."), ("user", later), ("assistant", "Yes.")]
        report = check_live(client, csrf, project, kind="conversation", **turn_fields(typed))
        duplicates = report.text.split('id="near-duplicates"', 1)[1].split("</div>", 1)[0]
        assert f"/items/{mine.id}/edit" in duplicates


def test_the_item_list_shows_the_first_turn_and_a_turn_count(
    client, db_session, annotator_user, project
):
    conversation = make_conversation(db_session, project, annotator_user)
    task = make_item(db_session, project, annotator_user)
    login(client, annotator_user.email)
    page = client.get(f"/projects/{project.id}/items?kind=conversation")
    row = page.text.split(f'data-item="{conversation.id}"', 1)[1].split("</tr>", 1)[0]
    assert TURNS[0][1] in row
    assert '<span class="badge turn-count" data-turns="4">4 turns</span>' in row
    assert f'data-item="{task.id}"' not in page.text
    everything = client.get(f"/projects/{project.id}/items").text
    task_row = everything.split(f'data-item="{task.id}"', 1)[1].split("</tr>", 1)[0]
    assert "turn-count" not in task_row
