"""Prompt rendering (design §5): messages per kind, the default chat template and its text."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError, TemplateError

from app.core.kinds import ItemContent
from app.core.prompts import (
    DEFAULT_CHAT_TEMPLATE,
    preview,
    prompt_messages,
    render_messages,
    render_text,
)


def _user(content: ItemContent) -> str:
    return prompt_messages(content)[0]["content"]


def _constraint_item(**overrides) -> ItemContent:
    fields = {
        "kind": "constraint",
        "instruction": "Describe Paris.",
        "output": "PARIS IS BIG.",
        "constraints": [
            {"id": "change_case:english_capital", "params": {}},
            {
                "id": "length_constraints:number_words",
                "params": {"relation": "less than", "num_words": 50},
            },
        ],
        "rules": ["Be friendly."],
    }
    return ItemContent(**(fields | overrides))


class TestTask:
    def test_instruction_blank_line_input(self):
        content = ItemContent(
            kind="task", instruction="Translate to French.", input="Good morning", output="Bonjour"
        )
        assert render_messages(content) == [
            {"role": "user", "content": "Translate to French.\n\nGood morning"},
            {"role": "assistant", "content": "Bonjour"},
        ]

    @pytest.mark.parametrize("empty_input", ["", " \n "])
    def test_no_blank_line_without_input(self, empty_input):
        content = ItemContent(kind="task", instruction="Name a colour.", input=empty_input)
        assert _user(content) == "Name a colour."

    def test_text_is_kept_as_written(self):
        content = ItemContent(kind="task", instruction="  Fix this:\n", input="  x = 1 \n")
        assert _user(content) == "  Fix this:\n\n\n  x = 1 \n"

    def test_prompt_messages_is_the_user_turn(self):
        content = ItemContent(kind="task", instruction="Hi", output="Hello")
        assert prompt_messages(content) == render_messages(content)[:1]


class TestConstraint:
    def test_requirements_are_appended_in_english(self):
        from app.core.constraints import render_requirement

        content = _constraint_item(input="Paris, France")
        first = render_requirement("change_case:english_capital", {}, "en")
        second = render_requirement(
            "length_constraints:number_words", {"relation": "less than", "num_words": 50}, "en"
        )
        assert _user(content) == (
            f"Describe Paris.\n\nParis, France\n\nRequirements:\n- {first}\n- {second}"
        )
        assert render_messages(content)[1] == {"role": "assistant", "content": "PARIS IS BIG."}

    def test_requirements_follow_the_chinese_language(self):
        from app.core.constraints import render_requirement

        content = _constraint_item(instruction="介绍巴黎。", language="zh-CN")
        requirement = render_requirement("change_case:english_capital", {}, "zh-CN")
        user = _user(content)
        assert user.startswith(f"介绍巴黎。\n\n要求：\n- {requirement}\n- ")
        assert "Requirements" not in user

    def test_flag_off_renders_like_a_task(self):
        # Imported prompts already state their rules; the registry must not be needed at all.
        content = _constraint_item(state_constraints=False, input="Paris")
        assert _user(content) == "Describe Paris.\n\nParis"

    def test_free_text_rules_alone_add_no_heading(self):
        content = _constraint_item(constraints=[])
        assert _user(content) == "Describe Paris."


class TestExample:
    def test_english_labels(self):
        content = ItemContent(
            kind="example",
            instruction="Give the plural.",
            demos=[{"input": "cat", "output": "cats"}, {"input": "mouse", "output": "mice"}],
            input="goose",
            output="geese",
        )
        assert render_messages(content) == [
            {
                "role": "user",
                "content": "Give the plural.\n\n"
                "Input: cat\nOutput: cats\n\n"
                "Input: mouse\nOutput: mice\n\n"
                "Input: goose",
            },
            {"role": "assistant", "content": "geese"},
        ]

    @pytest.mark.parametrize("language", ["zh", "zh-TW", "ZH_hans"])
    def test_chinese_labels_use_full_width_colon(self, language):
        content = ItemContent(
            kind="example",
            instruction="写出反义词。",
            language=language,
            demos=[{"input": "大", "output": "小"}],
            input="高",
            output="矮",
        )
        assert _user(content) == "写出反义词。\n\n输入：大\n输出：小\n\n输入：高"


class TestDefaultTemplate:
    def test_single_turn_text(self):
        messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
        assert render_text(messages) == "<|user|>\nHi\n<|assistant|>\nHello</s>"
        assert render_text(messages, eos_token="<eos>").endswith("Hello<eos>")

    def test_generation_prompt(self):
        assert render_text([{"role": "user", "content": "Hi"}], add_generation_prompt=True) == (
            "<|user|>\nHi\n<|assistant|>\n"
        )

    def test_never_writes_bos(self):
        messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
        assert "<s>" not in render_text(messages, bos_token="<s>")
        assert "bos_token" not in DEFAULT_CHAT_TEMPLATE

    def test_system_and_multi_turn(self):
        messages = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ]
        assert render_text(messages, add_generation_prompt=True) == (
            "<|system|>\nBe brief.\n<|user|>\na\n<|assistant|>\nb</s><|user|>\nc\n<|assistant|>\n"
        )

    @pytest.mark.parametrize(
        "content",
        [
            ItemContent(
                kind="task", instruction="Translate.", input="Good night", output="Bonne nuit"
            ),
            ItemContent(
                kind="task",
                instruction="翻译成英文。",
                input="晚安",
                output="Good night",
                language="zh",
            ),
            ItemContent(
                kind="example",
                instruction="反义词",
                language="zh",
                demos=[{"input": "大", "output": "小"}],
                input="高",
                output="矮",
            ),
            ItemContent(kind="task", instruction="Say nothing.", output=""),
        ],
    )
    def test_prompt_is_a_prefix_of_the_conversation(self, content):
        # Training splits prompt from response at this point, so the prefix must be exact.
        prompt = render_text(prompt_messages(content), add_generation_prompt=True)
        full = render_text(render_messages(content))
        assert full.startswith(prompt)
        assert full[len(prompt) :] == content.output + "</s>"

    def test_special_characters_round_trip(self):
        tricky = (
            "{{ eos_token }} {% if x %}{# c #} <b>&amp;</b> 'q' \"dq\" \\n\\ "
            "中文，标点。 émoji 🙂\ttab\n  indented\n{%- raw %}"
        )
        messages = [{"role": "user", "content": tricky}, {"role": "assistant", "content": tricky}]
        assert render_text(messages) == f"<|user|>\n{tricky}\n<|assistant|>\n{tricky}</s>"


class TestOtherTemplates:
    def test_hugging_face_style_template(self):
        # ChatML-like, with the features HF templates rely on: loop controls, trimmed block lines,
        # raise_exception and a tojson filter that leaves non-ASCII and HTML alone.
        template = (
            "{% for message in messages %}\n"
            "  {% if message['role'] == 'skip' %}{% continue %}{% endif %}\n"
            "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
            "{% endfor %}\n"
            "{{ bos_token }}{{ {'k': '中<>'} | tojson }}"
        )
        messages = [{"role": "skip", "content": "x"}, {"role": "user", "content": "hi"}]
        assert render_text(messages, template=template, bos_token="<s>") == (
            '<|im_start|>user\nhi<|im_end|>\n<s>{"k": "中<>"}'
        )

    def test_raise_exception_surfaces_as_template_error(self):
        template = "{{ raise_exception('Roles must alternate.') }}"
        with pytest.raises(TemplateError, match="Roles must alternate"):
            render_text([], template=template)

    def test_sandbox_refuses_unsafe_attribute_access(self):
        template = "{{ messages.__class__.__mro__ }}"
        with pytest.raises(SecurityError):
            render_text([], template=template)


class TestPreview:
    def test_messages_and_text(self):
        content = ItemContent(kind="task", instruction="Hi", output="Hello")
        assert preview(content) == {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ],
            "text": "<|user|>\nHi\n<|assistant|>\nHello</s>",
        }

    def test_chosen_template_and_eos(self):
        content = ItemContent(kind="task", instruction="Hi", output="Hello")
        template = "{% for m in messages %}[{{ m['content'] }}]{% endfor %}{{ eos_token }}"
        assert preview(content, template=template, eos_token="<E>")["text"] == "[Hi][Hello]<E>"
