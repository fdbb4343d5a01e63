"""Exports write every turn and the system prompt in each format's own fields, read back
exactly (with our metadata, and without it where the format carries the turns); files
exported before conversations existed still import the same."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from app.core.formats.writers import FORMATS, export_row, extension, format_row
from app.core.kinds import ItemContent
from tests.core.test_formats_writers import ITEMS, _export, _import, _without_metadata

LEGACY = Path(__file__).resolve().parents[1] / "data" / "export_before_conversations"

CONVERSATION = ItemContent(
    kind="conversation",
    system="你是一位耐心的数学老师。",
    turns=[
        {"role": "user", "content": "三加四等于几？"},
        {"role": "assistant", "content": "等于七。"},
        {"role": "user", "content": "Then times two?\r\n"},
        {"role": "assistant", "content": '14 — "fourteen".'},
        {"role": "user", "content": "谢谢！"},
        {"role": "assistant", "content": "不客气。"},
    ],
    language="zh",
)
SHORT = ItemContent(
    kind="conversation",
    turns=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
)
SYSTEM_TASK = ItemContent(
    kind="task", system="Answer in one word.", instruction="Largest ocean?", output="Pacific"
)
CONSTRAINED = ItemContent(
    kind="conversation",
    turns=[
        {"role": "user", "content": "Describe Paris."},
        {"role": "assistant", "content": "A city on the Seine."},
        {"role": "user", "content": "Now in capitals."},
        {"role": "assistant", "content": "A CITY ON THE SEINE."},
    ],
    constraints=[{"id": "change_case:english_capital", "params": {}}],
)
CHATS = [
    (CONVERSATION, {"item_id": 4, "revision": 2, "domain": "数学", "tags": ["对话"]}),
    (SHORT, {"item_id": 5, "revision": 1, "domain": None, "tags": []}),
    (SYSTEM_TASK, {"item_id": 6, "revision": 1, "domain": None, "tags": [], "difficulty": 1}),
    (CONSTRAINED, {"item_id": 7, "revision": 1, "domain": None, "tags": []}),
]


def _rows(data: bytes, fmt: str) -> list[dict]:
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(data)).to_pylist()
    if fmt.endswith("jsonl"):
        return [json.loads(line) for line in data.splitlines()]
    return json.loads(data)


def test_openai_chat_writes_the_system_message_first_and_every_turn():
    [row] = _rows(_export("openai_jsonl", CHATS[:1]), "openai_jsonl")
    assert row["messages"] == [
        {"role": "system", "content": CONVERSATION.system},
        *({"role": str(t.role), "content": t.content} for t in CONVERSATION.turns),
    ]


def test_sharegpt_writes_human_and_gpt_turns_and_a_top_level_system():
    [row] = _rows(_export("sharegpt_json", CHATS[:1]), "sharegpt_json")
    assert list(row) == ["conversations", "system", "metadata"]
    assert row["system"] == CONVERSATION.system
    assert row["conversations"] == [
        {"from": "human" if t.role == "user" else "gpt", "value": t.content}
        for t in CONVERSATION.turns
    ]


@pytest.mark.parametrize("fmt", ["alpaca_json", "alpaca_jsonl"])
def test_alpaca_writes_history_as_llama_factory_reads_it(fmt):
    conversation, task, plain = _rows(_export(fmt, [CHATS[0], CHATS[2], ITEMS[0]]), fmt)
    assert conversation["history"] == [
        ["三加四等于几？", "等于七。"],
        ["Then times two?\r\n", '14 — "fourteen".'],
    ]
    assert (conversation["instruction"], conversation["input"], conversation["output"]) == (
        "谢谢！",
        "",
        "不客气。",
    )
    assert conversation["system"] == CONVERSATION.system
    assert "history" not in task and task["system"] == "Answer in one word."
    assert list(plain) == ["instruction", "input", "output", "metadata"]  # as it always was


def test_parquet_keeps_the_messages():
    rows = _rows(_export("parquet", CHATS), "parquet")
    assert [len(row["messages"]) for row in rows] == [7, 2, 3, 4]
    assert rows[0]["messages"][0] == {"role": "system", "content": CONVERSATION.system}
    assert (rows[0]["prompt"], rows[0]["response"]) == ("谢谢！", "不客气。")
    # Requirements follow the final user turn, as in every rendering.
    assert rows[3]["messages"][2]["content"].startswith("Now in capitals.\n\nRequirements:\n- ")


def test_the_export_row_of_a_task_is_as_before():
    assert set(export_row(ITEMS[0][0], ITEMS[0][1])) == {"prompt", "response", "metadata"}
    row = export_row(SYSTEM_TASK, {})
    assert (row["system"], "history" in row) == ("Answer in one word.", False)
    assert format_row("openai_jsonl", row)["messages"][0] == {
        "role": "system",
        "content": "Answer in one word.",
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_conversations_and_system_prompts_round_trip_through_metadata(fmt):
    schema, converted = _import(_export(fmt, CHATS), fmt)
    assert schema == "studio"
    for result, (content, meta) in zip(converted, CHATS, strict=True):
        assert result.errors == []
        assert result.content == content
        assert {key: result.meta[key] for key in meta} == meta


@pytest.mark.parametrize("fmt", FORMATS)
def test_without_metadata_conversations_come_back_whole(fmt):
    """Every format carries the turns and the system prompt; a conversation with constraints
    comes back with its requirements in the final user turn, as a model saw it."""
    chats = [CHATS[0], CHATS[1], CHATS[3]]
    schema, converted = _import(_without_metadata(_export(fmt, chats), fmt), fmt)
    assert schema in ("openai_chat", "sharegpt", "alpaca")
    assert [c.errors for c in converted] == [[], [], []]
    detected = CONVERSATION.model_copy(update={"language": "en"})  # the import detects it
    assert [c.content for c in converted[:2]] == [detected, SHORT]
    said = [turn.content for turn in converted[2].content.turns]
    assert said[2].startswith("Now in capitals.\n\nRequirements:\n- ")
    assert said[:2] + said[3:] == [t.content for t in CONSTRAINED.turns[:2] + CONSTRAINED.turns[3:]]
    # In the task form a task with a system prompt comes back as it was.
    schema, converted = _import(_without_metadata(_export(fmt, [CHATS[2]]), fmt), fmt, "task")
    assert converted[0].content == SYSTEM_TASK


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_exported_before_conversations_import_the_same(fmt):
    data = (LEGACY / f"{fmt}{extension(fmt)}").read_bytes()
    assert data == _export(fmt) or fmt == "parquet"  # the same bytes as today's export
    schema, converted = _import(data, fmt)
    assert schema == "studio"
    for result, (content, meta) in zip(converted, ITEMS, strict=True):
        assert result.errors == []
        assert result.content == content
        assert {key: result.meta[key] for key in meta} == meta
    # Without metadata their tasks still read as the rendered prompt, in the task form.
    schema, converted = _import(_without_metadata(data, fmt), fmt, "task")
    assert converted[0].content.instruction == f"{ITEMS[0][0].instruction}\n\n{ITEMS[0][0].input}"
