"""Importing chats as conversations through the real import service, on both databases: the
committed ShareGPT file (every turn stored, every malformed row reported by its line, nothing
else), OpenAI chat, the task form for one-exchange rows, and conversations that match a task
imported earlier (listed by the check, skipped unless chosen)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.core.provenance import Origin
from app.imports import reader
from app.imports import service as imports
from app.imports.matches import Existing
from app.imports.reader import ImportOptions
from app.models import Item
from tests.data import make_conversations
from tests.factories import make_user
from tests.helpers import login
from tests.import_factories import import_file
from tests.review_factories import make_project


@pytest.fixture
def setup(db_session):
    admin = make_user(db_session, role="admin")
    return make_project(db_session, admin, name="Chats"), admin


def _items(session, project) -> list[Item]:
    return list(session.scalars(select(Item).where(Item.project_id == project.id)))


def _lines(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


class TestShareGptFile:
    def test_the_committed_file_is_what_the_generator_writes(self):
        assert make_conversations.PATH.read_text(encoding="utf-8") == make_conversations.text()

    def test_every_turn_is_stored_and_every_malformed_row_reported(
        self, db_session, tmp_path, setup
    ):
        project, admin = setup
        payload = make_conversations.PATH.read_bytes()
        rows = [json.loads(line) for line in payload.splitlines()]
        job = import_file(
            db_session, tmp_path, project, admin, "conversations.jsonl", payload, mode="valid_rows"
        )
        assert job.state == "done" and job.schema == "sharegpt"
        assert {p["number"]: p["reasons"] for p in job.errors} == make_conversations.MALFORMED
        good = [row for n, row in enumerate(rows, 1) if n not in make_conversations.MALFORMED]
        assert (job.created_items, job.skipped_duplicates) == (len(good), 0)
        assert len(good) >= 200

        stored = {item.provenance["line"]: item for item in _items(db_session, project)}
        assert set(stored) == set(range(1, len(rows) + 1)) - set(make_conversations.MALFORMED)
        turns_in_file = turns_in_db = 0
        for line, item in stored.items():
            row = rows[line - 1]
            said = [t for t in row["conversations"] if t["from"] != "system"]
            system = row.get("system") or next(
                (t["value"] for t in row["conversations"] if t["from"] == "system"), ""
            )
            assert item.kind == "conversation" and item.system == system
            texts = [t["value"] for t in said]
            roles = ["user" if t["from"] in ("human", "user") else "assistant" for t in said]
            if roles[-1] == "user":  # the reply is still to be written: a draft
                texts, roles = [*texts, ""], [*roles, "assistant"]
                assert item.status == "draft"
            assert [t["content"] for t in item.turns] == texts
            assert [t["role"] for t in item.turns] == roles
            assert (item.instruction, item.output) == (texts[0], texts[-1])
            assert item.language == ("zh" if _is_chinese(texts[0]) else "en")
            assert item.origin == Origin.imported
            turns_in_file += len(said)
            turns_in_db += len(item.turns)
        ends_on_user = sum(1 for item in stored.values() if item.turns[-1]["content"] == "")
        assert ends_on_user > 0
        assert turns_in_db == turns_in_file + ends_on_user
        # Both spellings and both places of a system prompt are in the file.
        spoken = {t["from"] for row in good for t in row["conversations"]}
        assert {"human", "gpt", "user", "assistant", "system"} <= spoken
        assert any("system" in row for row in good)
        assert {len(item.turns) for item in stored.values()} == {2, 4, 6, 8, 10, 12}

    def test_the_check_lists_problems_and_warnings_by_line(self, db_session, tmp_path, setup):
        project, admin = setup
        payload = make_conversations.PATH.read_bytes()
        path = tmp_path / "conversations.jsonl"
        path.write_bytes(payload)
        with path.open("rb") as f:
            job = imports.store_upload(
                session=db_session,
                project=project,
                filename=path.name,
                stream=f,
                folder=tmp_path / "store",
                actor=admin,
            )
        report = reader.validate(job, ImportOptions(), known=Existing(db_session, project.id, ""))
        assert {p["number"]: p["reasons"] for p in report["problems"]} == (
            make_conversations.MALFORMED
        )
        rows = [json.loads(line) for line in payload.splitlines()]
        warned = {w["number"]: w["reasons"] for w in report["warnings"]}
        for number, reasons in warned.items():
            row = rows[number - 1]
            expected = []
            if row["conversations"][-1]["from"] in ("human", "user"):
                expected.append(
                    "the conversation ends on a user turn: its last reply is left empty, "
                    "to be written"
                )
            if "tools" in row:
                expected.insert(0, "the row's 'tools' definitions were left out (it calls none)")
            assert reasons == expected, number
        assert any("tools" in rows[n - 1] for n in warned)
        assert any(rows[n - 1]["conversations"][-1]["from"] == "human" for n in warned)


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


OPENAI_ROWS = [
    {
        "messages": [
            {"role": "system", "content": "You are a concise travel guide."},
            {"role": "user", "content": "Three things to see in Kyoto?"},
            {"role": "assistant", "content": "Fushimi Inari, Kiyomizu-dera and Arashiyama."},
            {"role": "user", "content": "Which one first?"},
            {"role": "assistant", "content": "Fushimi Inari, early, before the crowds."},
        ]
    },
    {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "把这段话"},
                    {"type": "text", "text": "翻译成英文：你好。"},
                ],
            },
            {"role": "assistant", "content": "Hello."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "What's 2+2?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
            {"role": "tool", "content": "4", "tool_call_id": "1"},
            {"role": "assistant", "content": "4."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x.png"}}]},
            {"role": "assistant", "content": "A cat."},
        ]
    },
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Beep."}]},
    {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "assistant", "content": "Anyone there?"},
        ]
    },
    {
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Tell me a joke."},
        ]
    },
]


class TestOpenAiChat:
    def test_every_turn_and_the_system_message_and_errors_by_line(
        self, db_session, tmp_path, setup
    ):
        project, admin = setup
        job = import_file(
            db_session, tmp_path, project, admin, "chat.jsonl", _lines(OPENAI_ROWS),
            mode="valid_rows",
        )  # fmt: skip
        assert job.schema == "openai_chat"
        assert {p["number"]: p["reasons"] for p in job.errors} == {
            3: [
                "messages[1] makes a tool call; tool calls cannot be imported",
                "messages[2] has the role 'tool'; tool calls cannot be imported",
            ],
            4: [
                "messages[0].content[0] is a part of type 'image_url'; images, audio and video "
                "cannot be imported"
            ],
            5: ["messages[1] has the unknown role 'robot'"],
            6: ["messages[2] is a second assistant turn in a row; user and assistant alternate"],
        }
        by_line = {item.provenance["line"]: item for item in _items(db_session, project)}
        assert set(by_line) == {1, 2, 7}
        kyoto, translate, joke = by_line[1], by_line[2], by_line[7]
        assert kyoto.system == "You are a concise travel guide."
        assert [t["content"] for t in kyoto.turns] == [
            m["content"] for m in OPENAI_ROWS[0]["messages"][1:]
        ]
        assert translate.turns[0]["content"] == "把这段话\n翻译成英文：你好。"
        assert translate.language == "zh"
        assert (joke.system, joke.status, joke.output) == ("Be kind.", "draft", "")
        assert joke.turns == [
            {"role": "user", "content": "Tell me a joke."},
            {"role": "assistant", "content": ""},
        ]


class TestTaskForm:
    def test_one_exchange_rows_become_tasks_and_longer_ones_stay_conversations(
        self, db_session, tmp_path, setup
    ):
        project, admin = setup
        rows = [OPENAI_ROWS[0], OPENAI_ROWS[1], OPENAI_ROWS[6]]
        job = import_file(
            db_session, tmp_path, project, admin, "chat.jsonl", _lines(rows), one_exchange="task"
        )
        assert (job.state, job.created_items) == ("done", 3)
        by_line = {item.provenance["line"]: item for item in _items(db_session, project)}
        assert by_line[1].kind == "conversation" and len(by_line[1].turns) == 4
        translate, joke = by_line[2], by_line[3]
        assert (translate.kind, translate.turns, translate.output) == ("task", [], "Hello.")
        assert translate.instruction == "把这段话\n翻译成英文：你好。"
        assert (joke.kind, joke.system, joke.output, joke.status) == (
            "task",
            "Be kind.",
            "",
            "draft",
        )

    def test_an_unknown_form_is_refused(self, db_session, tmp_path, setup):
        from app.errors import InvalidInput

        project, admin = setup
        with pytest.raises(InvalidInput):
            import_file(
                db_session, tmp_path, project, admin, "c.jsonl", _lines(OPENAI_ROWS[:1]),
                one_exchange="thread",
            )  # fmt: skip


SHAREGPT_ROWS = [
    {
        "conversations": [
            {"from": "human", "value": "Capital of France?"},
            {"from": "gpt", "value": "Paris."},
            {"from": "human", "value": "And of Spain?"},
            {"from": "gpt", "value": "Madrid."},
        ]
    },
    {"conversations": [{"from": "human", "value": "你好"}, {"from": "gpt", "value": "你好！"}]},
    {
        "system": "Answer in one word.",
        "conversations": [
            {"from": "human", "value": "Largest planet?"},
            {"from": "gpt", "value": "Jupiter."},
            {"from": "human", "value": "Smallest?"},
            {"from": "gpt", "value": "Mercury."},
        ],
    },
    {"conversations": [{"from": "human", "value": "New here?"}, {"from": "gpt", "value": "Yes."}]},
]
# What an import that kept only the first exchange of a chat made of the rows above.
FIRST_EXCHANGES = [
    {"instruction": "Capital of France?", "input": "", "output": "Paris."},
    {"instruction": "你好", "input": "", "output": "你好！"},
    {"instruction": "Largest planet?", "input": "", "output": "Jupiter."},
]


class TestReimport:
    def test_conversations_matching_imported_tasks_are_listed_and_skipped(
        self, db_session, tmp_path, setup
    ):
        project, admin = setup
        earlier = import_file(
            db_session, tmp_path / "a", project, admin, "first.jsonl", _lines(FIRST_EXCHANGES)
        )
        assert earlier.created_items == 3
        path = tmp_path / "chat.jsonl"
        path.write_bytes(_lines(SHAREGPT_ROWS))
        with path.open("rb") as f:
            job = imports.store_upload(
                session=db_session,
                project=project,
                filename=path.name,
                stream=f,
                folder=tmp_path / "store",
                actor=admin,
            )
        known = Existing(db_session, project.id, job.schema)
        report = reader.validate(job, ImportOptions(), known=known)
        assert (report["matched"], report["matches"], report["duplicates"]) == (3, [1, 2, 3], 0)
        assert report["problems"] == []
        job = imports.run(session=db_session, job_id=job.id, actor=admin, options=ImportOptions())
        assert (job.created_items, job.skipped_duplicates) == (1, 3)
        items = _items(db_session, project)
        assert sorted(i.kind for i in items) == ["conversation", "task", "task", "task"]
        # The tasks stay as they were; only the new chat was written.
        assert {i.instruction for i in items if i.kind == "conversation"} == {"New here?"}

    def test_matches_are_imported_when_chosen_and_written_items_do_not_match(
        self, db_session, tmp_path, setup
    ):
        from app.items import service as items_service
        from app.items.schemas import ItemDraft

        project, admin = setup
        import_file(
            db_session, tmp_path / "a", project, admin, "first.jsonl", _lines(FIRST_EXCHANGES[:1])
        )
        # A task someone wrote is not an earlier import of the file.
        items_service.create_item(
            session=db_session,
            project=project,
            author=admin,
            draft=ItemDraft(kind="task", instruction="你好", output="你好！"),
        )
        job = import_file(
            db_session, tmp_path / "b", project, admin, "chat.jsonl", _lines(SHAREGPT_ROWS),
            task_matches="import",
        )  # fmt: skip
        assert (job.created_items, job.skipped_duplicates) == (4, 0)
        again = import_file(
            db_session, tmp_path / "c", project, admin, "chat.jsonl", _lines(SHAREGPT_ROWS)
        )
        assert (again.created_items, again.skipped_duplicates) == (0, 4)

    def test_reimport_in_conversation_form_after_the_task_form(self, db_session, tmp_path, setup):
        project, admin = setup
        payload = _lines(SHAREGPT_ROWS)
        first = import_file(
            db_session, tmp_path / "a", project, admin, "c.jsonl", payload, one_exchange="task"
        )
        assert first.created_items == 4
        kinds = sorted(i.kind for i in _items(db_session, project))
        assert kinds == ["conversation", "conversation", "task", "task"]
        second = import_file(db_session, tmp_path / "b", project, admin, "c.jsonl", payload)
        # The long chats are the same conversations; the short ones match their tasks.
        assert (second.created_items, second.skipped_duplicates) == (0, 4)
        assert len(_items(db_session, project)) == 4


class TestPages:
    def test_the_option_and_the_match_warning_on_the_import_page(
        self, client, db_session, tmp_path, setup, run_tasks
    ):
        project, admin = setup
        import_file(
            db_session, tmp_path, project, admin, "first.jsonl", _lines(FIRST_EXCHANGES[:1])
        )
        csrf = login(client, admin.email)
        upload = client.post(
            f"/projects/{project.id}/imports",
            data={"csrf_token": csrf},
            files={"file": ("chat.jsonl", _lines(SHAREGPT_ROWS), "application/jsonl")},
        )
        job_url = upload.headers["location"]
        page = client.get(job_url)
        assert 'name="one_exchange"' in page.text and 'name="task_matches"' in page.text
        job_id = int(job_url.rsplit("/", 1)[1])
        check = client.post(
            f"/imports/{job_id}/check", data={"csrf_token": csrf, "one_exchange": "conversation"}
        )
        assert check.status_code == 200
        assert 'id="report-matches"' in check.text
        assert "1 conversation begins with an exchange" in check.text
        assert "They will be skipped" in check.text
        # The preview shows every turn and the system prompt of a chat.
        assert "Mercury." in check.text and "Answer in one word." in check.text
        bad = client.post(
            f"/imports/{job_id}/check", data={"csrf_token": csrf, "one_exchange": "thread"}
        )
        assert bad.status_code == 422
        started = client.post(
            f"/imports/{job_id}/run",
            data={"csrf_token": csrf, "one_exchange": "task", "status": "submitted"},
        )
        assert started.status_code == 303
        assert len(run_tasks()) == 1
        # "你好" and "New here?" become tasks; the long chat that begins with the imported task
        # is skipped, as the check said.
        kinds = sorted(i.kind for i in _items(db_session, project))
        assert kinds == ["conversation", "task", "task", "task"]

    def test_the_api_takes_the_form(self, client, db_session, setup, run_tasks):
        from tests.factories import make_token

        project, admin = setup
        token = make_token(db_session, scope="user", owner=admin)
        response = client.post(
            f"/api/v1/projects/{project.id}/imports",
            headers={"Authorization": f"Bearer {token}"},
            data={"one_exchange": "task"},
            files={"file": ("c.jsonl", _lines(SHAREGPT_ROWS))},
        )
        assert response.status_code == 202, response.text
        assert run_tasks() == [response.json()["task_id"]]
        kinds = sorted(i.kind for i in _items(db_session, project))
        assert kinds == ["conversation", "conversation", "task", "task"]
