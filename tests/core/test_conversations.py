"""Conversation content: its turn rules, its system prompt, how it renders, hashes, indexes,
is measured and enters a manifest."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core import manifest, neardup
from app.core.kinds import ItemContent, ItemKind, canonical_json, content_hash
from app.core.prompts import preview, prompt_messages, render_messages
from app.items.lengths import ContentLimits, overlong

TURNS = [
    {"role": "user", "content": "What is a prime number?"},
    {"role": "assistant", "content": "A whole number above 1 divisible only by 1 and itself."},
    {"role": "user", "content": "Is 9 one?"},
    {"role": "assistant", "content": "No: 9 is 3 times 3."},
]


def conversation(**overrides) -> ItemContent:
    return ItemContent.model_validate({"kind": "conversation", "turns": TURNS} | overrides)


def problem(**fields) -> str:
    with pytest.raises(ValidationError) as caught:
        ItemContent.model_validate({"kind": "conversation"} | fields)
    return caught.value.errors()[0]["msg"]


class TestTurns:
    def test_first_and_last_turns_stand_as_instruction_and_output(self):
        content = conversation()
        assert content.kind is ItemKind.conversation
        assert content.instruction == "What is a prime number?"
        assert content.output == "No: 9 is 3 times 3."
        assert [turn.role for turn in content.turns] == ["user", "assistant"] * 2

    def test_an_instruction_that_is_not_the_first_turn_is_refused(self):
        message = problem(turns=TURNS, instruction="Something else")
        assert message == (
            "A conversation's instruction is its first user turn; leave the instruction out or "
            "make it the same."
        )
        assert conversation(instruction=TURNS[0]["content"]).instruction == TURNS[0]["content"]

    @pytest.mark.parametrize(
        ("turns", "message"),
        [
            ([], "A conversation needs at least one user turn and one assistant turn."),
            (TURNS[1:], "A conversation starts with a user turn."),
            (TURNS[:3], "A conversation ends with an assistant turn."),
            (
                [TURNS[0], TURNS[2], TURNS[3]],
                "Turn 2 is a second user turn in a row; user and assistant alternate.",
            ),
            (
                [TURNS[0], TURNS[1], TURNS[1]],
                "Turn 3 is a second assistant turn in a row; user and assistant alternate.",
            ),
            (
                [TURNS[0], {"role": "assistant", "content": " "}, *TURNS[2:]],
                "Turn 2 (assistant) is empty.",
            ),
            ([{"role": "user", "content": ""}, TURNS[1]], "Turn 1 (user) is empty."),
        ],
    )
    def test_turn_order_and_blank_turns_are_refused_with_a_sentence(self, turns, message):
        assert problem(turns=turns) == message

    def test_the_last_assistant_turn_may_wait_to_be_written(self):
        content = conversation(turns=[*TURNS[:3], {"role": "assistant", "content": ""}])
        assert content.output == ""

    def test_unknown_roles_and_fields_are_refused(self):
        with pytest.raises(ValidationError):
            conversation(turns=[{"role": "tool", "content": "x"}, TURNS[1]])
        with pytest.raises(ValidationError):
            conversation(turns=[{**TURNS[0], "name": "bob"}, TURNS[1]])

    def test_other_kinds_cannot_have_turns_but_may_have_a_system_prompt(self):
        with pytest.raises(ValidationError, match="A task item cannot have turns"):
            ItemContent(kind="task", instruction="a", output="b", turns=TURNS)
        task = ItemContent(kind="task", instruction="a", output="b", system="Be brief.")
        assert render_messages(task)[0] == {"role": "system", "content": "Be brief."}

    def test_a_conversation_has_no_input_and_may_carry_constraints(self):
        assert problem(turns=TURNS, input="x") == (
            "A conversation has no input; its turns hold the text."
        )
        ref = {
            "id": "length_constraints:number_words",
            "params": {"relation": "less than", "num_words": 20},
        }
        assert conversation(constraints=[ref]).constraints[0].id == ref["id"]


class TestRendering:
    def test_every_turn_renders_after_the_system_prompt(self):
        messages = render_messages(conversation(system="You are a maths tutor."))
        assert messages == [{"role": "system", "content": "You are a maths tutor."}, *TURNS]

    def test_generation_gets_everything_before_the_last_assistant_turn(self):
        assert prompt_messages(conversation()) == TURNS[:3]

    def test_requirements_follow_the_final_user_turn(self):
        ref = {"id": "punctuation:no_comma", "params": {}}
        messages = render_messages(conversation(constraints=[ref]))
        assert messages[2]["content"].startswith("Is 9 one?\n\nRequirements:\n- ")
        assert messages[0]["content"] == TURNS[0]["content"]

    def test_the_default_template_shows_the_whole_conversation(self):
        text = preview(conversation(system="Be exact."))["text"]
        assert text == (
            "<|system|>\nBe exact.\n"
            "<|user|>\nWhat is a prime number?\n"
            "<|assistant|>\nA whole number above 1 divisible only by 1 and itself.</s>"
            "<|user|>\nIs 9 one?\n"
            "<|assistant|>\nNo: 9 is 3 times 3.</s>"
        )


class TestHashesAndIndexes:
    def test_the_hash_covers_every_turn_and_the_system_prompt(self):
        base = conversation()
        changed_middle = conversation(
            turns=[TURNS[0], {**TURNS[1], "content": "Other."}, *TURNS[2:]]
        )
        assert content_hash(base) != content_hash(changed_middle)
        assert content_hash(base) != content_hash(conversation(system="Be exact."))
        assert '"turns":[' in canonical_json(base) and '"system"' not in canonical_json(base)

    def test_an_empty_system_prompt_leaves_older_content_hashing_as_before(self):
        task = ItemContent(kind="task", instruction="a", output="b")
        assert canonical_json(task) == canonical_json(task.model_copy(update={"system": ""}))
        assert "system" not in canonical_json(task) and "turns" not in canonical_json(task)

    def test_index_text_holds_every_turn_once_and_the_system_prompt(self):
        content = conversation(system="Tutor mode.")
        text = neardup.item_text(
            content.instruction,
            content.input,
            content.output,
            system=content.system,
            turns=content.turns,
        )
        assert text.split("\n") == [t["content"] for t in TURNS] + ["Tutor mode."]
        assert neardup.item_text("a", "", "b") == "a\nb"

    def test_manifest_lines_carry_turns_only_when_set(self):
        snap = conversation().model_dump(mode="json")
        assert '"turns":[' in manifest.manifest_line("train", snap)
        task = ItemContent(kind="task", instruction="a", output="b").model_dump(mode="json")
        assert "turns" not in manifest.manifest_line("train", task)
        assert "system" not in manifest.manifest_line("train", task)


class TestLimits:
    LIMITS = ContentLimits(
        instruction=50, input=50, output=50, demo=50, system=10, turn=30, turns=4
    )

    def test_each_turn_and_the_system_prompt_are_measured(self):
        content = conversation(system="A" * 11).model_dump(mode="json")
        problems = overlong(content, [], self.LIMITS)
        assert [field for field, _m, _p in problems] == ["system", "turns.1"]

    def test_too_many_turns_is_said_first(self):
        content = conversation(turns=TURNS + TURNS[2:]).model_dump(mode="json")
        field, message, params = overlong(content, [], self.LIMITS)[0]
        assert field == "turns"
        assert message % params == "The conversation has 6 turns; at most 4 are allowed."
