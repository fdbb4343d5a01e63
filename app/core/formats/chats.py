"""Chat rows to items, every turn kept: ShareGPT, OpenAI chat, and Alpaca with ``history``.

A row becomes a ``conversation`` with its system prompt and every turn. With the ``task`` form a
row of exactly one exchange (one user turn and its reply, if any) becomes a ``task`` instead, as
imports did before conversations existed; longer rows are conversations either way.

Nothing is reshaped to fit: turns out of order, empty turns, unknown roles, tool calls and
images, audio or video make the row an error naming the turn (``conversations[3] ...``). A row
that ends on the user's turn gets an empty final reply, to be written (the item is a draft).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .fields import get_list, get_optional_text, get_text

if TYPE_CHECKING:
    from .schemas import Converted

Fields = dict[str, Any]

FORMS = ("conversation", "task")
# Speaker names seen in the wild; "human"/"gpt" are ShareGPT's own.
USER_ROLES = frozenset({"human", "user"})
REPLY_ROLES = frozenset({"gpt", "assistant", "chatgpt", "bard", "bing", "model"})
SYSTEM_ROLES = frozenset({"system"})
# LLaMA-Factory's ShareGPT and OpenAI's chat spell tool use with these roles and keys.
TOOL_ROLES = frozenset(
    {"function_call", "observation", "tool", "function", "tool_call", "tool_response", "ipython"}
)
TOOL_KEYS = ("tool_calls", "function_call", "tool_call_id")
MEDIA_KEYS = ("images", "videos", "audios")
# LLaMA-Factory marks where an image, video or audio goes in the text with these tags.
MEDIA_TAG = re.compile(r"<(?:image|video|audio)>")
NO_TOOLS = "tool calls cannot be imported"
NO_MEDIA = "images, audio and video cannot be imported"


@dataclass(frozen=True)
class ChatShape:
    """Where a chat format keeps its turns, each turn's speaker and its text."""

    key: str
    role_key: str
    text_key: str


SHAREGPT = ChatShape("conversations", "from", "value")
OPENAI_CHAT = ChatShape("messages", "role", "content")


def chat(data: Mapping[str, Any], shape: ChatShape, out: Converted, form: str) -> Fields:
    """A ShareGPT or OpenAI chat row as a conversation (or, in the task form, a task)."""
    errors = out.errors
    media_keys(data, errors)
    system = get_optional_text(data, "system", errors) or ""
    turns: list[tuple[str, str, str]] = []  # (label, role, text)
    for index, raw in enumerate(get_list(data, shape.key, errors)):
        label = f"{shape.key}[{index}]"
        if not isinstance(raw, Mapping):
            errors.append(f"{label} must be an object")
            continue
        role = role_of(raw, shape, label, errors)
        text = text_of(raw, shape, label, errors) if role else None
        if role is None or text is None:
            continue
        if MEDIA_TAG.search(text):
            errors.append(f"{label} holds an image, audio or video tag; {NO_MEDIA}")
        elif role == "system":
            if turns:
                errors.append(f"{label} is a system turn after the conversation began")
            elif system and text != system:
                errors.append(f"{label} is a second system prompt")
            system = text
        else:
            turns.append((label, role, text))
    if errors:
        return {"kind": "conversation"}
    if "tools" in data and data["tools"]:
        out.warnings.append("the row's 'tools' definitions were left out (it calls none)")
    if not turns:
        errors.append(f"{shape.key!r} has no user turn")
        return {"kind": "conversation"}
    return _shaped(system, turns, out, form)


def alpaca_chat(data: Mapping[str, Any], out: Converted, form: str) -> Fields:
    """An Alpaca row with LLaMA-Factory's ``system`` and ``history`` (earlier exchanges as
    ``[[user, assistant], ...]``; the instruction, and the input after a newline, is the last
    user turn). Without ``history`` the row is a task, as any Alpaca row is."""
    errors = out.errors
    system = get_optional_text(data, "system", errors) or ""
    instruction = get_text(data, "instruction", errors)
    given = get_text(data, "input", errors, required=False)
    output = get_text(data, "output", errors)
    if "history" not in data:
        return {"kind": "task", "instruction": instruction, "input": given, "output": output,
                "system": system}  # fmt: skip
    turns: list[tuple[str, str, str]] = []
    for index, pair in enumerate(get_list(data, "history", errors, required=False)):
        label = f"history[{index}]"
        if not (type(pair) is list and len(pair) == 2 and all(type(t) is str for t in pair)):
            errors.append(f"{label} must be a pair of strings [user, assistant]")
            continue
        turns += [(f"{label}[0]", "user", pair[0]), (f"{label}[1]", "assistant", pair[1])]
    if errors:
        return {"kind": "conversation"}
    if not turns and form == "task":
        return {"kind": "task", "instruction": instruction, "input": given, "output": output,
                "system": system}  # fmt: skip
    # LLaMA-Factory joins the instruction and the input with a newline into the user's turn.
    query = "\n".join(text for text in (instruction, given) if text)
    turns += [("instruction", "user", query), ("output", "assistant", output)]
    return _shaped(system, turns, out, form)


def _shaped(system: str, turns: list[tuple[str, str, str]], out: Converted, form: str) -> Fields:
    """The turns, in order, as a conversation or (the task form, one exchange) a task."""
    errors = out.errors
    if turns[0][1] != "user":
        errors.append(f"{turns[0][0]}: a conversation starts with a user turn, not the assistant")
        return {"kind": "conversation"}
    for (_, before, _), (label, role, _) in zip(turns, turns[1:], strict=False):
        if role == before:
            errors.append(f"{label} is a second {role} turn in a row; user and assistant alternate")
    if turns[-1][1] == "user":
        out.warnings.append(
            "the conversation ends on a user turn: its last reply is left empty, to be written"
        )
        turns = [*turns, ("", "assistant", "")]
    # The final reply may wait to be written, as a task's output may; every other turn is text.
    for label, role, text in turns[:-1]:
        if not text.strip():
            errors.append(f"{label} is an empty {role} turn")
    if errors:
        return {"kind": "conversation"}
    if form == "task" and len(turns) == 2:
        return {"kind": "task", "instruction": turns[0][2], "output": turns[1][2], "system": system}
    return {
        "kind": "conversation",
        "system": system,
        "turns": [{"role": role, "content": text} for _, role, text in turns],
    }


def media_keys(data: Mapping[str, Any], errors: list[str]) -> None:
    for key in MEDIA_KEYS:
        if data.get(key):
            errors.append(f"the row has {key!r}; {NO_MEDIA}")


def role_of(raw: Mapping[str, Any], shape: ChatShape, label: str, errors: list[str]) -> str | None:
    """The turn's role as ours (user, assistant, system), or None with the reason why not."""
    role = raw.get(shape.role_key)
    if role in TOOL_ROLES:
        errors.append(f"{label} has the role {role!r}; {NO_TOOLS}")
        return None
    if any(raw.get(key) for key in TOOL_KEYS):
        errors.append(f"{label} makes a tool call; {NO_TOOLS}")
        return None
    if role in USER_ROLES:
        return "user"
    if role in REPLY_ROLES:
        return "assistant"
    if role in SYSTEM_ROLES:
        return "system"
    if role is None:
        errors.append(f"missing field '{label}.{shape.role_key}'")
    else:
        errors.append(f"{label} has the unknown role {role!r}")
    return None


def text_of(raw: Mapping[str, Any], shape: ChatShape, label: str, errors: list[str]) -> str | None:
    """The turn's text: a string, or OpenAI's list of text parts joined by newlines (as vLLM
    joins them); None, with the reason, for anything else."""
    where = f"{label}.{shape.text_key}"
    value = raw.get(shape.text_key)
    if isinstance(value, str):
        return value
    if shape is not OPENAI_CHAT or not isinstance(value, list):
        get_text(raw, shape.text_key, errors, label=where)  # says what is wrong with it
        return None
    texts = []
    for index, part in enumerate(value):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(kind, str) and kind != "text":
            errors.append(f"{where}[{index}] is a part of type {kind!r}; {NO_MEDIA}")
            return None
        else:
            errors.append(f"'{where}[{index}]' must be a text part")
            return None
    if not texts:
        errors.append(f"'{where}' has no text")
        return None
    return "\n".join(texts)
