r"""Prompt rendering (design §5): the one path from item content to chat messages and text.

The review screen, export previews, exports and training all call this module, so what a reviewer
sees is exactly what the model is trained on.

Messages, by kind:

- task: the user turn is the instruction, then a blank line and the input when there is one.
- constraint: as task; with ``state_constraints`` on, a blank line, ``Requirements:`` (``要求：``
  in Chinese) and one ``- <requirement>`` line per registry constraint follow.
- example: the instruction, each demonstration as ``Input: …`` / ``Output: …`` (``输入：`` /
  ``输出：`` in Chinese) with blank lines between blocks, then ``Input: <query>``.

- conversation: its turns as they are; with ``state_constraints`` on, the requirements follow
  the final user turn as they follow a task's request.

Every kind may carry a system prompt, which comes first as the ``system`` message. The last
assistant turn is always the output.

Text comes from the base model's chat template when it has one, otherwise from
``DEFAULT_CHAT_TEMPLATE``, which the offline ``tiny`` model carries too. A single-turn
conversation renders as::

    <|user|>
    {user content}
    <|assistant|>
    {assistant content}{eos_token}

A system message, if any, renders like a user one under ``<|system|>``. With
``add_generation_prompt`` the text ends after ``<|assistant|>\n``, so the prompt text is a string
prefix of the full conversation: training splits prompt from response at that point. The template
never writes ``bos_token`` because the tokenizer adds BOS itself (no double BOS).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.kinds import ItemContent, ItemKind

Message = dict[str, str]

DEFAULT_CHAT_TEMPLATE = (
    "{%- for message in messages %}\n"
    "{%- if message['role'] == 'assistant' %}\n"
    "{{- '<|assistant|>\\n' + message['content'] + eos_token }}\n"
    "{%- else %}\n"
    "{{- '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' }}\n"
    "{%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "{{- '<|assistant|>\\n' }}\n"
    "{%- endif %}\n"
)


def is_chinese(language: str) -> bool:
    """True for ``zh``, ``zh-CN``, ``zh_Hant`` and the like."""
    return language.strip().lower().startswith("zh")


def prompt_messages(content: ItemContent) -> list[Message]:
    """Everything before the reference output, for generation: the system prompt, and the
    user turn (a conversation's turns up to its final user turn)."""
    return render_messages(content)[:-1]


def pair_messages(content: ItemContent) -> tuple[list[Message], Message, Message]:
    """A preference pair as preference optimisation reads it: the prompt's messages, then the
    chosen and the rejected assistant turn that each answer it."""
    prompt = prompt_messages(content)
    return (
        prompt,
        {"role": "assistant", "content": content.output},
        {"role": "assistant", "content": content.rejected},
    )


def render_messages(content: ItemContent) -> list[Message]:
    """The whole conversation: the system prompt when there is one, then the user and
    assistant turns; the last assistant turn is the reference output (a pair's chosen
    response)."""
    system = [{"role": "system", "content": content.system}] if content.system.strip() else []
    if content.kind is ItemKind.preference and content.turns:
        # A pair's prompt turns end with the user; the requirements join that last request.
        turns = [{"role": str(turn.role), "content": turn.content} for turn in content.turns]
        if _states_requirements(content):
            turns[-1]["content"] = f"{turns[-1]['content']}\n\n{_requirements(content)}"
        return [*system, *turns, {"role": "assistant", "content": content.output}]
    if content.kind is ItemKind.conversation:
        turns = [{"role": str(turn.role), "content": turn.content} for turn in content.turns]
        if _states_requirements(content):
            # The final request is where a reader meets the requirements, as in a task.
            last = turns[-2]
            last["content"] = f"{last['content']}\n\n{_requirements(content)}"
        return [*system, *turns]
    return [
        *system,
        {"role": "user", "content": _user_turn(content)},
        {"role": "assistant", "content": content.output},
    ]


def _states_requirements(content: ItemContent) -> bool:
    return bool(content.state_constraints and content.constraints)


def _user_turn(content: ItemContent) -> str:
    # Only examples and pairs hold demonstrations (a pair's prompt may be an example's).
    if content.demos:
        parts = [_example_turn(content)]
    else:
        parts = [content.instruction]
        if content.input.strip():
            parts.append(content.input)
    if content.kind in _STATED_KINDS and _states_requirements(content):
        parts.append(_requirements(content))
    return "\n\n".join(parts)


# The single-turn kinds whose requirements the user turn states.
_STATED_KINDS = frozenset({ItemKind.constraint, ItemKind.preference})


def _requirements(content: ItemContent) -> str:
    # Imported lazily: the registry is a larger package that plain task rendering does not need.
    from app.core.constraints import render_requirement

    chinese = is_chinese(content.language)
    lang = content.language if chinese else "en"
    lines = ["要求：" if chinese else "Requirements:"]
    lines += [f"- {render_requirement(ref.id, ref.params, lang)}" for ref in content.constraints]
    return "\n".join(lines)


def _example_turn(content: ItemContent) -> str:
    if is_chinese(content.language):
        input_label, output_label = "输入：", "输出："
    else:
        input_label, output_label = "Input: ", "Output: "
    blocks = [content.instruction]
    blocks += [f"{input_label}{demo.input}\n{output_label}{demo.output}" for demo in content.demos]
    blocks.append(f"{input_label}{content.input}")
    return "\n\n".join(blocks)


# --- text ------------------------------------------------------------------------------------


def _raise_exception(message: str) -> None:
    # Hugging Face templates call this to reject conversations they cannot render.
    raise TemplateError(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # Jinja's own tojson escapes HTML characters; chat templates expect plain JSON, as in HF.
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _environment() -> ImmutableSandboxedEnvironment:
    # The same settings as transformers' apply_chat_template, so model templates render alike.
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


_ENV = _environment()


@lru_cache(maxsize=32)
def _compiled(template: str):
    # Exports render thousands of items with one template; compile it once.
    return _ENV.from_string(template)


def render_text(
    messages: list[Message],
    *,
    add_generation_prompt: bool = False,
    eos_token: str = "</s>",
    bos_token: str = "",
    template: str | None = None,
) -> str:
    """Messages as text under ``template`` (a HF ``chat_template``) or the default one.

    ``bos_token`` is empty by default because tokenizers add BOS themselves; pass it only to show
    a model template's text as the model sees it.
    """
    return _compiled(template or DEFAULT_CHAT_TEMPLATE).render(
        messages=messages,
        add_generation_prompt=add_generation_prompt,
        eos_token=eos_token,
        bos_token=bos_token,
    )


def preview(
    content: ItemContent, *, template: str | None = None, eos_token: str = "</s>"
) -> dict[str, Any]:
    """What the UI shows: the messages and their text under the chosen or default template."""
    messages = render_messages(content)
    return {
        "messages": messages,
        "text": render_text(messages, eos_token=eos_token, template=template),
    }
