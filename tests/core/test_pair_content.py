"""A preference pair in the content model: its prompt is any kind's prompt part, its chosen
response is the output, and it renders to the prompt and two answers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core import neardup
from app.core.kinds import (
    MANIFEST_LATER_FIELDS,
    SFT_KINDS,
    ItemContent,
    ItemKind,
    content_hash,
    pair_of,
)
from app.core.prompts import pair_messages, prompt_messages, render_messages


def pair(**fields) -> ItemContent:
    base = {
        "kind": "preference",
        "instruction": "Name a prime number.",
        "output": "7",
        "rejected": "8",
    }
    return ItemContent.model_validate(base | fields)


def test_a_task_prompt_renders_with_each_response():
    prompt, chosen, rejected = pair_messages(pair(input="Below ten."))
    assert prompt == [{"role": "user", "content": "Name a prime number.\n\nBelow ten."}]
    assert chosen == {"role": "assistant", "content": "7"}
    assert rejected == {"role": "assistant", "content": "8"}
    assert render_messages(pair())[-1] == {"role": "assistant", "content": "7"}


def test_a_conversation_prompt_keeps_its_turns_and_system_prompt():
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "A prime, please."},
    ]
    content = pair(instruction="", turns=turns, system="Be brief.")
    assert content.instruction == "Hi"  # its first user turn, as a conversation's
    assert prompt_messages(content) == [{"role": "system", "content": "Be brief."}, *turns]


def test_a_few_shot_prompt_and_stated_requirements():
    content = pair(
        demos=[{"input": "4", "output": "no"}],
        input="7",
        constraints=[
            {
                "id": "length_constraints:number_words",
                "params": {"relation": "less than", "num_words": 5},
            }
        ],
    )
    user = prompt_messages(content)[0]["content"]
    assert user.startswith("Name a prime number.\n\nInput: 4\nOutput: no\n\nInput: 7")
    assert "Requirements:" in user


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rejected": "7"}, "are the same"),
        (
            {
                "instruction": "",
                "turns": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            },
            "end with the user",
        ),
        (
            {"instruction": "", "turns": [{"role": "assistant", "content": "a"}]},
            "start with a user",
        ),
        ({"demos": [{"input": "1", "output": "2"}]}, "query input"),
        (
            {"instruction": "", "turns": [{"role": "user", "content": " "}]},
            r"Turn 1 \(user\) is empty",
        ),
    ],
)
def test_malformed_pairs_are_refused_with_a_sentence(fields, message):
    with pytest.raises(ValidationError, match=message):
        pair(**fields)


def test_only_a_pair_has_a_rejected_response():
    with pytest.raises(ValidationError, match="use a preference pair"):
        ItemContent(kind=ItemKind.task, instruction="Hi", output="a", rejected="b")
    assert ItemKind.preference not in SFT_KINDS


def test_older_content_keeps_its_hash_and_the_rejected_response_enters_it_when_set():
    task = ItemContent(kind=ItemKind.task, instruction="Hi", output="Hello")
    assert "rejected" not in task.model_dump(exclude_defaults=True)
    assert "rejected" in MANIFEST_LATER_FIELDS
    assert content_hash(pair()) != content_hash(pair(rejected="9"))


def test_both_responses_are_indexed_text():
    turns = [{"role": "user", "content": "Hi"}]
    text = neardup.item_text("Hi", "", "chosen words", turns=turns, rejected="rejected words")
    assert text.split("\n") == ["Hi", "chosen words", "rejected words"]
    conversation = [*turns, {"role": "assistant", "content": "Hello"}]
    assert neardup.item_text("Hi", "", "Hello", turns=conversation) == "Hi\nHello"


@pytest.mark.parametrize(
    "source",
    [
        {
            "kind": "task",
            "instruction": "Add.",
            "input": "2+2",
            "output": "4",
            "system": "Be exact.",
        },
        {
            "kind": "constraint",
            "instruction": "Say hi.",
            "output": "hi",
            "constraints": [{"id": "change_case:english_lowercase", "params": {}}],
        },
        {
            "kind": "example",
            "instruction": "Plural.",
            "demos": [{"input": "cat", "output": "cats"}],
            "input": "dog",
            "output": "dogs",
        },
        {
            "kind": "conversation",
            "system": "Be brief.",
            "turns": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Add 2+2"},
                {"role": "assistant", "content": "4"},
            ],
        },
    ],
)
def test_a_pair_over_any_kinds_prompt_keeps_the_prompt_the_model_saw(source):
    content = ItemContent.model_validate(source)
    made = pair_of(content, "better", "worse")
    assert made.kind is ItemKind.preference
    assert prompt_messages(made) == prompt_messages(content)
    assert (made.output, made.rejected) == ("better", "worse")
    assert made.constraints == content.constraints
