"""Chat rows to conversations: every turn and the system prompt kept, both role spellings,
OpenAI text parts, Alpaca with history, and every malformed turn named, never reshaped."""

from __future__ import annotations

import pytest

from app.core.formats.cleaning import clean_dump
from app.core.formats.schemas import convert
from app.core.kinds import ItemKind


def _sharegpt(*turns, **extra):
    return {"conversations": [{"from": who, "value": text} for who, text in turns], **extra}


def _openai(*turns, **extra):
    return {"messages": [{"role": who, "content": text} for who, text in turns], **extra}


class TestTurns:
    @pytest.mark.parametrize(
        ("user", "reply"),
        [("human", "gpt"), ("user", "assistant"), ("human", "chatgpt"), ("user", "model")],
    )
    def test_spellings_of_the_roles(self, user, reply):
        row = _sharegpt((user, "Hi"), (reply, "Hello"), (user, "Bye"), (reply, "See you"))
        result = convert(row, "sharegpt")
        assert result.errors == []
        assert [(t.role, t.content) for t in result.content.turns] == [
            ("user", "Hi"),
            ("assistant", "Hello"),
            ("user", "Bye"),
            ("assistant", "See you"),
        ]

    def test_the_system_prompt_as_a_field_or_a_first_turn(self):
        field = convert(_sharegpt(("human", "Hi"), ("gpt", "Yo"), system="Be kind."), "sharegpt")
        turn = convert(
            _sharegpt(("system", "Be kind."), ("human", "Hi"), ("gpt", "Yo")), "sharegpt"
        )
        both = _sharegpt(("system", "Be kind."), ("human", "Hi"), ("gpt", "Yo"), system="Be kind.")
        assert field.content == turn.content == convert(both, "sharegpt").content
        assert field.content.system == "Be kind."
        openai = convert(_openai(("system", "Be kind."), ("user", "Hi"), ("assistant", "Yo")),
                         "openai_chat")  # fmt: skip
        assert openai.content == field.content

    def test_text_is_kept_exactly(self):
        text = "  第一行\r\n\tsecond <b>line</b>  "
        result = convert(_openai(("user", text), ("assistant", text + "!")), "openai_chat")
        assert [t.content for t in result.content.turns] == [text, text + "!"]

    def test_text_parts_are_joined_by_newlines(self):
        parts = [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}]
        result = convert(_openai(("user", parts), ("assistant", "Ok")), "openai_chat")
        assert result.content.instruction == "One.\nTwo."
        assert convert(_openai(("user", []), ("assistant", "Ok")), "openai_chat").errors == [
            "'messages[0].content' has no text"
        ]
        odd = [{"type": "text", "text": 3}]
        assert convert(_openai(("user", odd), ("assistant", "Ok")), "openai_chat").errors == [
            "'messages[0].content[0]' must be a text part"
        ]

    def test_ending_on_the_user_leaves_the_reply_to_write(self):
        result = convert(_sharegpt(("human", "Hi"), ("gpt", "Hello"), ("human", "More?")),
                         "sharegpt")  # fmt: skip
        assert result.errors == []
        assert [t.content for t in result.content.turns] == ["Hi", "Hello", "More?", ""]
        assert result.meta["needs_output"] is True
        assert result.warnings == [
            "the conversation ends on a user turn: its last reply is left empty, to be written"
        ]
        # An empty final reply is a draft too, without a warning.
        empty = convert(_sharegpt(("human", "Hi"), ("gpt", "")), "sharegpt")
        assert (empty.errors, empty.warnings, empty.meta["needs_output"]) == ([], [], True)

    def test_unused_tools_are_left_out_with_a_warning(self):
        row = _openai(("user", "Hi"), ("assistant", "Hello"), tools=[{"type": "function"}])
        result = convert(row, "openai_chat")
        assert result.errors == [] and result.content.kind == ItemKind.conversation
        assert result.warnings == ["the row's 'tools' definitions were left out (it calls none)"]


class TestErrors:
    @pytest.mark.parametrize(
        ("turns", "extra", "errors"),
        [
            ([("gpt", "Hello"), ("human", "Hi")], {},
             ["conversations[0]: a conversation starts with a user turn, not the assistant"]),
            ([("human", "a"), ("gpt", "b"), ("gpt", "c"), ("human", "d"), ("human", "e")], {},
             ["conversations[2] is a second assistant turn in a row; user and assistant alternate",
              "conversations[4] is a second user turn in a row; user and assistant alternate"]),
            ([("human", "a"), ("gpt", " \n"), ("human", "c"), ("gpt", "d")], {},
             ["conversations[1] is an empty assistant turn"]),
            ([("human", "a"), ("function_call", "{}"), ("observation", "{}"), ("gpt", "d")], {},
             ["conversations[1] has the role 'function_call'; tool calls cannot be imported",
              "conversations[2] has the role 'observation'; tool calls cannot be imported"]),
            ([("human", "a"), ("narrator", "b")], {},
             ["conversations[1] has the unknown role 'narrator'"]),
            ([("human", "<image>What is this?"), ("gpt", "A cat.")], {"images": ["cat.png"]},
             ["the row has 'images'; images, audio and video cannot be imported",
              "conversations[0] holds an image, audio or video tag; images, audio and video "
              "cannot be imported"]),
            ([("human", "<video>Describe it"), ("gpt", "A dog.")], {},
             ["conversations[0] holds an image, audio or video tag; images, audio and video "
              "cannot be imported"]),
            ([("human", 42), ("gpt", "b")], {}, ["'conversations[0].value' must be a string"]),
            ([("human", "a"), ("gpt", "b"), ("system", "late")], {},
             ["conversations[2] is a system turn after the conversation began"]),
            ([("system", "one"), ("human", "a"), ("gpt", "b")], {"system": "two"},
             ["conversations[0] is a second system prompt"]),
            ([("human", "a"), ("gpt", "b")], {"system": 3}, ["'system' must be a string"]),
            ([], {}, ["'conversations' has no user turn"]),
        ],
    )  # fmt: skip
    def test_each_problem_is_named_by_turn(self, turns, extra, errors):
        result = convert(_sharegpt(*turns, **extra), "sharegpt")
        assert (result.errors, result.content) == (errors, None)

    def test_tool_calls_in_openai_chat(self):
        row = {
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
                {"role": "tool", "content": "sunny", "tool_call_id": "1"},
                {"role": "assistant", "content": "Sunny."},
            ]
        }
        assert convert(row, "openai_chat").errors == [
            "messages[1] makes a tool call; tool calls cannot be imported",
            "messages[2] has the role 'tool'; tool calls cannot be imported",
        ]

    def test_a_turn_that_is_not_an_object_or_has_no_role(self):
        row = {"conversations": ["hello", {"value": "hi"}]}
        assert convert(row, "sharegpt").errors == [
            "conversations[0] must be an object",
            "missing field 'conversations[1].from'",
        ]


class TestForms:
    def test_the_task_form_takes_one_exchange_with_its_system_prompt(self):
        row = _sharegpt(("human", "Hi"), ("gpt", "Hello"), system="Be kind.")
        task = convert(row, "sharegpt", form="task").content
        assert (task.kind, task.instruction, task.output, task.system, task.turns) == (
            ItemKind.task,
            "Hi",
            "Hello",
            "Be kind.",
            [],
        )
        longer = _sharegpt(("human", "Hi"), ("gpt", "Hello"), ("human", "Bye"), ("gpt", "Bye"))
        assert convert(longer, "sharegpt", form="task").content.kind == ItemKind.conversation


class TestAlpacaHistory:
    ROW = {
        "instruction": "And in winter?",
        "input": "",
        "output": "Take a warm coat.",
        "system": "You are a travel agent.",
        "history": [["What should I pack for Oslo in summer?", "Light layers and a raincoat."]],
    }

    def test_history_makes_a_conversation(self):
        result = convert(self.ROW, "alpaca")
        assert result.errors == []
        content = result.content
        assert content.kind == ItemKind.conversation and content.system == "You are a travel agent."
        assert [t.content for t in content.turns] == [
            "What should I pack for Oslo in summer?",
            "Light layers and a raincoat.",
            "And in winter?",
            "Take a warm coat.",
        ]

    def test_the_input_follows_the_instruction_on_a_new_line(self):
        row = {**self.ROW, "input": "We go in January.", "history": []}
        assert (
            convert(row, "alpaca").content.turns[0].content == "And in winter?\nWe go in January."
        )
        task = convert(row, "alpaca", form="task").content
        assert (task.kind, task.instruction, task.input, task.system) == (
            ItemKind.task,
            "And in winter?",
            "We go in January.",
            "You are a travel agent.",
        )

    def test_without_history_a_row_is_a_task_with_its_system_prompt(self):
        row = {key: value for key, value in self.ROW.items() if key != "history"}
        content = convert(row, "alpaca").content
        assert (content.kind, content.system, content.output) == (
            ItemKind.task,
            "You are a travel agent.",
            "Take a warm coat.",
        )
        plain = convert({"instruction": "Hi", "output": "Hello"}, "alpaca").content
        assert (plain.kind, plain.system) == (ItemKind.task, "")

    def test_a_bad_pair_is_named(self):
        row = {**self.ROW, "history": [["only one"], ["", "answer"]]}
        assert convert(row, "alpaca").errors == [
            "history[0] must be a pair of strings [user, assistant]"
        ]
        row = {**self.ROW, "history": [["", "answer"]]}
        assert convert(row, "alpaca").errors == ["history[0][0] is an empty user turn"]


def test_cleaning_cleans_every_turn_and_keeps_the_ends_in_step():
    content = convert(
        _sharegpt(("human", "  <b>Hi</b> "), ("gpt", "Hello  "), system=" Be kind. "), "sharegpt"
    ).content.model_dump(mode="json")
    changes = clean_dump(content, {"strip_html", "trim"})
    assert [name for name, _before, _after in changes] == ["system", "turns[0]", "turns[1]"]
    assert (content["system"], content["instruction"], content["output"]) == (
        "Be kind.",
        "Hi",
        "Hello",
    )
    assert [t["content"] for t in content["turns"]] == ["Hi", "Hello"]
