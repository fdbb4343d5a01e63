"""Schema detection and conversion of rows to items: the seed tasks, IFEval prompts, chats."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.core.formats.readers import iter_records
from app.core.formats.schemas import (
    check_mapping,
    convert,
    detect_schema,
    schema_of,
    suggest_mapping,
)
from app.core.kinds import ItemKind
from tests.conftest import TEST_DATA

ROOT = Path(__file__).resolve().parents[2]


def _seed_tasks() -> Path:
    path = TEST_DATA / "seed_tasks.jsonl"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared test data missing in CI: {path}")
        pytest.skip(f"shared test data not found at {path} (set STUDIO_TEST_DATA)")
    return path


IFEVAL_ROWS = [
    {
        "key": 1000,
        "prompt": "Write a 300+ word summary of the wikipedia page "
        '"https://en.wikipedia.org/wiki/Raymond_III,_Count_of_Tripoli". Do not use any commas '
        "and highlight at least 3 sections that has titles in markdown format, for example "
        "*highlighted section part 1*, *highlighted section part 2*, "
        "*highlighted section part 3*.",
        "instruction_id_list": [
            "punctuation:no_comma",
            "detectable_format:number_highlighted_sections",
            "length_constraints:number_words",
        ],
        "kwargs": [{}, {"num_highlights": 3}, {"relation": "at least", "num_words": 300}],
    },
    {
        "key": 1001,
        "prompt": "I am planning a trip to Japan, and I would like thee to write an itinerary for "
        "my journey in a Shakespearean style. You are not allowed to use any commas in your "
        "response.",
        "instruction_id_list": ["punctuation:no_comma"],
        "kwargs": [{}],
    },
    {
        # As Hugging Face's copy stores it: every kwarg name in every entry, unused ones null.
        "key": 1005,
        "prompt": "Write a resume for a fresh high school graduate who is seeking their first "
        "job. Make sure to include at least 12 placeholder represented by square brackets, "
        "such as [address], [name].",
        "instruction_id_list": ["detectable_content:number_placeholders"],
        "kwargs": [{"num_placeholders": 12, "num_words": None, "relation": None}],
    },
]


class TestSeedTasks:
    def test_175_tasks_detect_as_self_instruct_and_keep_their_text(self):
        path = _seed_tasks()
        with path.open("rb") as stream:
            records = list(iter_records(stream, "jsonl"))
        assert all(r.error is None for r in records)
        rows = [r.data for r in records]
        assert detect_schema(rows[:100]) == "self_instruct"
        converted = [convert(row, "self_instruct") for row in rows]
        assert [c.errors for c in converted] == [[]] * 175
        assert {c.content.kind for c in converted} == {ItemKind.task}
        raw = path.read_bytes().splitlines()
        for line, item in zip(raw, converted, strict=True):
            row = json.loads(line)
            [instance] = row["instances"]
            # Byte for byte: the same UTF-8 as the file's decoded JSON strings.
            assert item.content.instruction.encode() == row["instruction"].encode()
            assert item.content.input.encode() == instance["input"].encode()
            assert item.content.output.encode() == instance["output"].encode()
            assert item.meta["source_id"] == row["id"]
            assert item.meta["needs_output"] is False
        assert sum(1 for c in converted if c.content.input == "") == 50


class TestSelfInstruct:
    def test_several_instances_make_an_example_with_the_last_as_query(self):
        row = {
            "id": "t1",
            "instruction": "Classify the sentiment.",
            "instances": [
                {"input": "I loved it.", "output": "positive"},
                {"input": "Awful.", "output": "negative"},
                {"input": "Not bad at all.", "output": "positive"},
            ],
        }
        result = convert(row, "self_instruct")
        assert result.errors == []
        content = result.content
        assert content.kind is ItemKind.example
        assert [(d.input, d.output) for d in content.demos] == [
            ("I loved it.", "positive"),
            ("Awful.", "negative"),
        ]
        assert (content.input, content.output) == ("Not bad at all.", "positive")

    def test_an_example_demo_needs_an_input(self):
        row = {"instruction": "Answer.", "instances": [{"input": "", "output": "a"}] * 2}
        assert convert(row, "self_instruct").errors == [
            "Demonstration 1 needs an input.",
        ]

    def test_wrong_types_are_named(self):
        row = {"instruction": 5, "instances": [{"input": "", "output": 3}, "x"]}
        assert convert(row, "self_instruct").errors == [
            "'instruction' must be a string",
            "'instances[0].output' must be a string",
            "'instances[1]' must be an object",
        ]

    def test_instances_as_json_text_from_a_csv_cell(self):
        row = {"instruction": "Add.", "instances": '[{"input": "1+1", "output": "2"}]'}
        assert convert(row, "self_instruct").content.input == "1+1"

    def test_empty_instances(self):
        assert convert({"instruction": "x", "instances": []}, "self_instruct").errors == [
            "'instances' must not be empty"
        ]


class TestFlatSchemas:
    def test_alpaca(self):
        row = {"instruction": "Translate.", "input": "Bonjour", "output": "Hello", "text": "…"}
        result = convert(row, "alpaca")
        assert result.content.model_dump(include={"kind", "instruction", "input", "output"}) == {
            "kind": ItemKind.task,
            "instruction": "Translate.",
            "input": "Bonjour",
            "output": "Hello",
        }

    def test_missing_and_wrong_fields(self):
        assert convert({"instruction": "x", "input": ""}, "alpaca").errors == [
            "missing field 'output'"
        ]
        assert convert({"instruction": ["x"], "input": 1, "output": "y"}, "alpaca").errors == [
            "'instruction' must be a string",
            "'input' must be a string",
        ]
        assert convert({"instruction": "  ", "output": "y"}, "alpaca").errors == [
            "'instruction': The instruction must not be empty."
        ]

    def test_an_empty_output_needs_one(self):
        result = convert({"instruction": "Write a haiku.", "output": ""}, "alpaca")
        assert result.errors == []
        assert result.meta["needs_output"] is True

    def test_dolly_context_is_input_and_category_is_domain(self):
        row = {
            "instruction": "When did Virgin Australia start operating?",
            "context": "Virgin Australia commenced services on 31 August 2000.",
            "response": "31 August 2000.",
            "category": "closed_qa",
        }
        result = convert(row, detect_schema([row]))
        assert schema_of(row) == "dolly"
        assert result.content.input == row["context"]
        assert result.content.output == row["response"]
        assert result.meta["domain"] == "closed_qa"

    def test_dolly_names_its_own_missing_column(self):
        assert convert({"instruction": "x", "context": ""}, "dolly").errors == [
            "missing field 'response'"
        ]

    def test_unknown_needs_a_mapping(self):
        row = {"question": "What is 2+2?", "answer": "4"}
        assert detect_schema([row]) == "unknown"
        assert convert(row, "unknown").errors[0].startswith("the schema is unknown")
        mapping = suggest_mapping(row)
        assert mapping == {"instruction": "question", "output": "answer"}
        result = convert(row, "unknown", mapping)
        assert (result.content.instruction, result.content.output) == ("What is 2+2?", "4")

    def test_mapping_overrides_alpaca_columns(self):
        row = {"instruction": "ignored", "q": "Name a fruit.", "output": "Apple"}
        result = convert(row, "alpaca", {"instruction": "q"})
        assert result.content.instruction == "Name a fruit."

    def test_bad_mappings_raise(self):
        with pytest.raises(ValueError, match="alpaca, dolly or unknown"):
            check_mapping("sharegpt", {"instruction": "x"})
        with pytest.raises(ValueError, match="Only instruction"):
            convert({}, "unknown", {"domain": "x", "instruction": "q"})
        with pytest.raises(ValueError, match="Unknown schema"):
            convert({}, "xml")


class TestChats:
    """Detection and the one-exchange forms; every other chat rule is in test_formats_chats."""

    def test_sharegpt_keeps_every_turn_and_the_system_prompt(self):
        row = {
            "id": "abc",
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "Capital of France?"},
                {"from": "gpt", "value": "Paris."},
                {"from": "human", "value": "And Spain?"},
                {"from": "gpt", "value": "Madrid."},
            ],
        }
        assert detect_schema([row]) == "sharegpt"
        result = convert(row, "sharegpt")
        assert result.errors == [] and result.warnings == []
        assert result.content.kind == ItemKind.conversation
        assert result.content.system == "Be brief."
        assert [t.content for t in result.content.turns] == [
            "Capital of France?",
            "Paris.",
            "And Spain?",
            "Madrid.",
        ]
        assert (result.content.instruction, result.content.output) == (
            "Capital of France?",
            "Madrid.",
        )
        assert result.meta["source_id"] == "abc"
        # Several exchanges stay a conversation in the task form too.
        assert convert(row, "sharegpt", form="task").content == result.content

    def test_openai_chat_of_one_exchange_in_either_form(self):
        row = {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
            ]
        }
        assert detect_schema([row]) == "openai_chat"
        result = convert(row, "openai_chat")
        assert result.content.kind == ItemKind.conversation
        assert [t.role for t in result.content.turns] == ["user", "assistant"]
        task = convert(row, "openai_chat", form="task")
        assert (task.content.kind, task.content.instruction, task.content.output) == (
            ItemKind.task,
            "Hi",
            "Hello!",
        )
        assert task.warnings == []

    def test_a_chat_without_reply_needs_an_output(self):
        result = convert({"messages": [{"role": "user", "content": "Hi"}]}, "openai_chat")
        assert result.meta["needs_output"] is True
        assert result.content.turns[-1].content == ""
        task = convert(
            {"messages": [{"role": "user", "content": "Hi"}]}, "openai_chat", form="task"
        )
        assert (task.content.kind, task.meta["needs_output"]) == (ItemKind.task, True)

    def test_a_chat_without_user_turn(self):
        row = {"messages": [{"role": "assistant", "content": "Hello"}]}
        assert convert(row, "openai_chat").errors == [
            "messages[0]: a conversation starts with a user turn, not the assistant"
        ]
        assert convert({"messages": []}, "openai_chat").errors == ["'messages' has no user turn"]

    def test_wrong_content_type(self):
        row = {"messages": [{"role": "user", "content": [{"type": "image"}]}]}
        assert convert(row, "openai_chat").errors == [
            "messages[0].content[0] is a part of type 'image'; images, audio and video cannot "
            "be imported"
        ]
        row = {"messages": [{"role": "user", "content": 3}]}
        assert convert(row, "openai_chat").errors == ["'messages[0].content' must be a string"]

    def test_an_unknown_form_raises(self):
        with pytest.raises(ValueError, match="Unknown form"):
            convert({"messages": []}, "openai_chat", form="thread")


class TestIfeval:
    def test_prompts_become_constraint_drafts_with_registry_constraints(self):
        assert detect_schema(IFEVAL_ROWS) == "ifeval"
        results = [convert(row, "ifeval") for row in IFEVAL_ROWS]
        assert [r.errors for r in results] == [[], [], []]
        first = results[0].content
        assert first.kind is ItemKind.constraint
        assert first.instruction == IFEVAL_ROWS[0]["prompt"]
        assert first.output == ""
        assert first.state_constraints is False
        assert [c.model_dump() for c in first.constraints] == [
            {"id": "punctuation:no_comma", "params": {}},
            {
                "id": "detectable_format:number_highlighted_sections",
                "params": {"num_highlights": 3},
            },
            {
                "id": "length_constraints:number_words",
                "params": {"relation": "at least", "num_words": 300},
            },
        ]
        assert results[2].content.constraints[0].params == {"num_placeholders": 12}
        assert all(r.meta["needs_output"] for r in results)
        assert [r.meta["source_id"] for r in results] == ["1000", "1001", "1005"]

    def test_the_prompt_is_not_restated(self):
        from app.core.prompts import render_messages

        content = convert(IFEVAL_ROWS[1], "ifeval").content
        assert render_messages(content)[0]["content"] == IFEVAL_ROWS[1]["prompt"]

    def test_unknown_ids_and_bad_kwargs_are_named(self):
        row = {
            "prompt": "Write.",
            "instruction_id_list": ["made:up", "length_constraints:number_words"],
            "kwargs": [{}, {"relation": "about", "num_words": 300}],
        }
        errors = convert(row, "ifeval").errors
        assert errors[0] == "'instruction_id_list[0]': unknown constraint 'made:up'"
        assert errors[1].startswith(
            "'instruction_id_list[1]': Invalid parameters for length_constraints:number_words"
        )

    def test_kwargs_must_match_the_ids(self):
        row = {
            "prompt": "Write.",
            "instruction_id_list": ["punctuation:no_comma"],
            "kwargs": [{}, {}],
        }
        assert convert(row, "ifeval").errors == [
            "'kwargs' has 2 entries but 'instruction_id_list' has 1"
        ]


def test_detection_follows_the_majority():
    alpaca = {"instruction": "a", "input": "", "output": "b"}
    other = {"text": "free text"}
    assert detect_schema([alpaca, alpaca, other]) == "alpaca"
    assert detect_schema([alpaca, other, other]) == "unknown"
    assert detect_schema([]) == "unknown"


def test_meta_keys_are_the_same_for_every_schema():
    result = convert({"instruction": "a", "output": "b", "id": 7}, "alpaca")
    assert result.meta == {
        "domain": None,
        "tags": [],
        "difficulty": None,
        "needs_output": False,
        "source_id": "7",
        "language": None,
    }


def test_broken_studio_metadata_is_reported_by_field():
    metadata = {"kind": "task", "instruction": "Hi", "difficulty": 9, "colour": "red"}
    row = {"instruction": "Hi", "input": "", "output": "Hello", "metadata": json.dumps(metadata)}
    assert detect_schema([row]) == "studio"
    assert convert(row, "studio").errors == [
        "unknown metadata field 'colour'",
        "metadata 'difficulty' must be a whole number from 1 to 5",
    ]
    row["metadata"] = '{"kind": "task", "instruction": '
    assert schema_of(row) == "alpaca"  # unreadable metadata: the row still has its own fields
    assert convert(row, "studio").errors == ["'metadata' is not valid JSON"]
