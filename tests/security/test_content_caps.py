"""Over-long texts (issue 14, item 6): an instruction, input, output or demonstration longer
than its limit (``STUDIO_MAX_*_CHARS``) is refused everywhere an item is written (the JSON API,
the editor form, an import row, restoring a revision) with a sentence that names the field and
the limit, and the editor's live check answers without reading the text. A text exactly at its
limit is accepted."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.items.schemas import ItemDraft
from app.models import Item, ItemRevision
from tests.editor_helpers import HX, check_live, editor_project, make_item, post_new, post_update
from tests.factories import make_token
from tests.helpers import login

INSTRUCTION, INPUT, OUTPUT, DEMO = 20_000, 100_000, 100_000, 20_000  # the settings' defaults
OUTPUT_TOO_LONG = "The output is longer than 100,000 characters (it has 100,001)."


@pytest.fixture
def project(db_session, admin_user, annotator_user):
    return editor_project(db_session, admin_user, annotator_user)


def _count(session, project) -> int:
    return session.scalar(
        select(func.count()).select_from(Item).where(Item.project_id == project.id)
    )


def _text(length: int) -> str:
    return ("word " * (length // 5 + 1))[:length]


class TestApi:
    @pytest.fixture
    def headers(self, db_session, annotator_user):
        token = make_token(db_session, scope="user", owner=annotator_user)
        return {"Authorization": f"Bearer {token}"}

    def _create(self, client, project, headers, **fields):
        body = {"kind": "task", "instruction": "Write.", "output": "Done.", **fields}
        return client.post(f"/api/v1/projects/{project.id}/items", json=body, headers=headers)

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"output": _text(OUTPUT + 1)}, OUTPUT_TOO_LONG),
            (
                {"instruction": _text(INSTRUCTION + 1)},
                "The instruction is longer than 20,000 characters (it has 20,001).",
            ),
            (
                {"input": _text(INPUT + 5)},
                "The input is longer than 100,000 characters (it has 100,005).",
            ),
            (
                {
                    "kind": "example",
                    "input": "four",
                    "demos": [
                        {"input": "one", "output": "un"},
                        {"input": "two", "output": "x" * (DEMO + 1)},
                    ],
                },
                "The output of demonstration 2 is longer than 20,000 characters (it has 20,001).",
            ),
        ],
        ids=["output", "instruction", "input", "demo"],
    )
    def test_create_over_the_limit_is_refused(
        self, client, db_session, project, headers, fields, message
    ):
        response = self._create(client, project, headers, **fields)
        assert response.status_code == 413, response.text
        assert response.json() == {"error": "too_large", "detail": message}
        assert _count(db_session, project) == 0

    def test_update_over_the_limit_changes_nothing(
        self, client, db_session, project, annotator_user, headers
    ):
        item = make_item(db_session, project, annotator_user)
        body = {"kind": "task", "instruction": "Say hello.", "output": _text(OUTPUT + 1)}
        response = client.put(
            f"/api/v1/items/{item.id}", json={**body, "version": item.version}, headers=headers
        )
        assert response.status_code == 413
        assert response.json()["detail"] == OUTPUT_TOO_LONG
        db_session.refresh(item)
        assert (item.output, item.version) == ("Hello.", 1)

    def test_at_the_limits_is_accepted(self, client, db_session, project, headers):
        fields = {
            "kind": "example",
            "instruction": _text(INSTRUCTION),
            "input": _text(INPUT),
            "output": _text(OUTPUT),
            "demos": [{"input": _text(DEMO), "output": _text(DEMO)}],
        }
        response = self._create(client, project, headers, **fields)
        assert response.status_code == 201, response.text
        assert len(response.json()["output"]) == OUTPUT


class TestConfiguredLimit:
    @pytest.fixture
    def settings(self, settings):
        return settings.model_copy(update={"max_output_chars": 50})

    def test_the_app_settings_decide(self, client, db_session, project, annotator_user):
        token = make_token(db_session, scope="user", owner=annotator_user)
        response = client.post(
            f"/api/v1/projects/{project.id}/items",
            json={"kind": "task", "instruction": "Write.", "output": "x" * 51},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 413
        assert response.json()["detail"] == "The output is longer than 50 characters (it has 51)."
        csrf = login(client, annotator_user.email)
        page = post_new(client, csrf, project, "task", output="x" * 51)
        assert page.status_code == 422
        assert "The output is longer than 50 characters (it has 51)." in page.text


class TestEditor:
    @pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
    def test_new_item_over_the_limit_shows_the_form_again(
        self, client, db_session, project, annotator_user, htmx
    ):
        csrf = login(client, annotator_user.email)
        long_output = _text(OUTPUT + 1)
        response = post_new(
            client, csrf, project, "task", headers=HX if htmx else {}, output=long_output
        )
        assert response.status_code == 422
        assert OUTPUT_TOO_LONG in response.text
        assert long_output in response.text  # what was typed is kept
        assert _count(db_session, project) == 0

    def test_edit_over_the_limit_changes_nothing(self, client, db_session, project, annotator_user):
        item = make_item(db_session, project, annotator_user)
        csrf = login(client, annotator_user.email)
        response = post_update(client, csrf, item, headers=HX, instruction=_text(INSTRUCTION + 1))
        assert response.status_code == 422
        assert "The instruction is longer than 20,000 characters (it has 20,001)." in response.text
        db_session.refresh(item)
        assert item.version == 1

    def test_at_the_limit_saves(self, client, db_session, project, annotator_user):
        csrf = login(client, annotator_user.email)
        response = post_new(client, csrf, project, "task", output=_text(OUTPUT))
        assert response.status_code == 303
        assert _count(db_session, project) == 1

    def test_live_check_of_an_over_long_output_reads_nothing(self, client, project, annotator_user):
        csrf = login(client, annotator_user.email)
        response = check_live(
            client,
            csrf,
            project,
            kind="constraint",
            instruction="List points.",
            output="\n" * (OUTPUT + 1),  # runs of newlines: the slow text for bullet checks
            constraint_row=["0"],
            **{"c.0.id": "detectable_format:number_bullet_lists", "c.0.num_bullets": "3"},
        )
        assert response.status_code == 200
        assert OUTPUT_TOO_LONG in response.text
        assert 'id="verdicts"' not in response.text and 'id="preview"' not in response.text

    def test_live_check_at_the_limit_checks(self, client, project, annotator_user):
        csrf = login(client, annotator_user.email)
        response = check_live(
            client,
            csrf,
            project,
            kind="constraint",
            instruction="List points.",
            output="\n" * OUTPUT,
            constraint_row=["0"],
            **{"c.0.id": "detectable_format:number_bullet_lists", "c.0.num_bullets": "3"},
        )
        assert response.status_code == 200
        assert 'id="verdicts"' in response.text and 'id="too-long"' not in response.text


class TestImport:
    def test_an_over_long_row_is_a_problem_on_its_line_and_the_rest_imports(
        self, client, db_session, project, admin_user, run_tasks
    ):
        token = make_token(db_session, scope="user", owner=admin_user)
        rows = [{"instruction": f"Say {i}.", "input": "", "output": str(i)} for i in range(1, 6)]
        rows[2]["output"] = _text(OUTPUT + 1)
        rows[3]["output"] = _text(OUTPUT)  # at the limit: imported
        response = client.post(
            f"/api/v1/projects/{project.id}/imports",
            headers={"Authorization": f"Bearer {token}"},
            data={"mode": "valid_rows"},
            files={"file": ("long.jsonl", "\n".join(json.dumps(r) for r in rows).encode())},
        )
        assert response.status_code == 202, response.text
        assert run_tasks() == [response.json()["task_id"]]
        body = client.get(
            f"/api/v1/imports/{response.json()['id']}",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert (body["state"], body["created_items"]) == ("done", 4)
        assert body["errors"] == [{"number": 3, "reasons": [OUTPUT_TOO_LONG]}]
        assert _count(db_session, project) == 4


class TestRestore:
    def test_restoring_an_over_long_revision_is_refused(
        self, client, db_session, project, annotator_user
    ):
        """A revision saved before the limits (or under larger ones) cannot come back through
        restore: it goes through the same checks as any save."""
        item = make_item(db_session, project, annotator_user)
        old = db_session.scalar(select(ItemRevision).where(ItemRevision.item_id == item.id))
        old.snapshot = {**old.snapshot, "output": _text(OUTPUT + 1)}
        draft = ItemDraft(kind="task", instruction="Say hello.", output="Hi.")
        from app.items import service as items

        items.update_item(
            session=db_session,
            item_id=item.id,
            draft=draft,
            expected_version=1,
            editor=annotator_user,
        )
        csrf = login(client, annotator_user.email)
        response = client.post(
            f"/items/{item.id}/restore", data={"csrf_token": csrf, "version": 1, "current": 2}
        )
        assert response.status_code == 413
        assert OUTPUT_TOO_LONG in response.text
        db_session.refresh(item)
        assert (item.output, item.version) == ("Hi.", 2)
