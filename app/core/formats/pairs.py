"""Preference pairs from files: TRL's preference format and the full-dialogue (HH-RLHF) form.

- ``trl_preference``: ``prompt``, ``chosen`` and ``rejected``, either plain text (three strings,
  and an optional ``system`` column) or conversational: ``prompt`` a list of messages (a system
  message first, if any, then user and assistant turns ending with the user's) and ``chosen``
  and ``rejected`` one assistant message each. When ``chosen`` and ``rejected`` are whole
  dialogues, they must begin with the row's prompt.
- ``hh_rlhf``: ``chosen`` and ``rejected`` are whole dialogues, message lists or Anthropic's HH
  text ("\\n\\nHuman: …\\n\\nAssistant: …"); the prompt is what comes before their last assistant
  turn, and it must be the same in both.

A prompt of one user message becomes the pair's instruction (with the system prompt); a prompt
of earlier turns becomes the pair's ``turns``. Nothing is reshaped to fit: a missing or empty
response, equal responses, a prompt that does not end with the user, tool calls, images, and
dialogues that differ before their last turn make the row an error that says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import chats
from .fields import get_optional_text, get_text

if TYPE_CHECKING:
    from .schemas import Converted

Fields = dict[str, Any]
Message = tuple[str, str, str]  # (label, role, text)

SCHEMAS = ("trl_preference", "hh_rlhf")
_FAILED: Fields = {"kind": "preference"}
# HH-RLHF's speakers, each after a blank line; the space after the colon belongs to the marker.
_HH_SPEAKER = re.compile(r"(?:\A|\n\n)(Human|Assistant):[ ]?")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}
_JSON_MESSAGES = re.compile(r"\s*\[\s*\{")


def schema_of(data: Mapping[str, Any]) -> str | None:
    """``trl_preference`` for a row with a prompt and two responses, ``hh_rlhf`` for two whole
    dialogues without a prompt, None for anything else."""
    if "chosen" not in data or "rejected" not in data:
        return None
    return "trl_preference" if "prompt" in data else "hh_rlhf"


def trl(data: Mapping[str, Any], out: Converted) -> Fields:
    """A TRL preference row, plain text or conversational."""
    data = _unpacked(data)
    errors = out.errors
    chats.media_keys(data, errors)
    system = get_optional_text(data, "system", errors) or ""
    prompt = data.get("prompt")
    if isinstance(prompt, str):
        return _plain(data, prompt, system, out)
    if not isinstance(prompt, list):
        errors.append(
            "missing field 'prompt'"
            if prompt is None
            else "'prompt' must be text or a list of messages"
        )
        return _FAILED
    messages = _messages(prompt, "prompt", errors)
    chosen, rejected = (_reply_of(data, side, messages, errors) for side in ("chosen", "rejected"))
    if errors:
        return _FAILED
    return _pair(messages, system, chosen, rejected, errors)


def hh(data: Mapping[str, Any], out: Converted) -> Fields:
    """Two whole dialogues, as message lists or HH text; the prompt is split off at the last
    assistant turn and must be the same in both."""
    data = _unpacked(data)
    errors = out.errors
    chats.media_keys(data, errors)
    system = get_optional_text(data, "system", errors) or ""
    dialogues = [_dialogue(data, side, errors) for side in ("chosen", "rejected")]
    if errors:
        return _FAILED
    chosen_prompt, chosen = _split(dialogues[0], "chosen", errors)
    rejected_prompt, rejected = _split(dialogues[1], "rejected", errors)
    if errors:
        return _FAILED
    if _said(chosen_prompt) != _said(rejected_prompt):
        errors.append(
            "the chosen and the rejected dialogue differ before their last assistant turn; "
            "a pair's two responses answer the same prompt"
        )
        return _FAILED
    return _pair(chosen_prompt, system, chosen, rejected, errors)


# --- the parts of a row ----------------------------------------------------------------------


def _unpacked(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The row with message lists written as JSON text (all a CSV cell can hold) read as lists;
    other text stays text."""
    found = {}
    for key in ("prompt", "chosen", "rejected"):
        value = data.get(key)
        if not isinstance(value, str) or not _JSON_MESSAGES.match(value):
            continue
        try:
            messages = json.loads(value)
        except ValueError:
            continue
        if isinstance(messages, list) and all(isinstance(m, Mapping) and "role" in m
                                              for m in messages):  # fmt: skip
            found[key] = messages
    return {**data, **found} if found else data


def _plain(data: Mapping[str, Any], prompt: str, system: str, out: Converted) -> Fields:
    errors = out.errors
    responses = []
    for side in ("chosen", "rejected"):
        if isinstance(data.get(side), list):
            errors.append(
                f"'prompt' is text but {side!r} is a list of messages; a row is plain text or "
                "conversational throughout"
            )
        elif side in data:
            known = len(errors)
            text = get_text(data, side, errors)
            responses.append(_response(text, side, errors) if len(errors) == known else text)
        else:
            errors.append(f"missing field {side!r}")
    if not prompt.strip():
        errors.append("'prompt' is empty")
    if errors:
        return _FAILED
    chosen, rejected = responses
    return {"kind": "preference", "system": system, "instruction": prompt, "output": chosen,
            "rejected": rejected}  # fmt: skip


def _reply_of(data: Mapping[str, Any], side: str, prompt: list[Message], errors: list[str]) -> str:
    """The assistant message of a conversational row's ``chosen`` or ``rejected``: a list of
    that one message, or a whole dialogue that begins with the row's prompt."""
    value = data.get(side)
    if value is None:
        errors.append(f"missing field {side!r}")
        return ""
    if isinstance(value, str):
        errors.append(
            f"'prompt' is a list of messages but {side!r} is text; a row is plain text or "
            "conversational throughout"
        )
        return ""
    if not isinstance(value, list):
        errors.append(f"{side!r} must be a list of messages")
        return ""
    known = len(errors)
    messages = _messages(value, side, errors)
    if len(errors) > known:
        return ""
    if any(role == "user" for _label, role, _text in messages):
        # A whole dialogue: the row's explicit prompt repeated in it, and then the response.
        before, reply = _split(messages, side, errors)
        if len(errors) == known and _said(before) != _said(prompt):
            errors.append(
                f"{side!r} holds a dialogue that does not begin with the row's 'prompt'; give "
                "the one assistant message, or the prompt's messages and then it"
            )
        return reply
    if len(messages) != 1 or messages[0][1] != "assistant":
        errors.append(f"{side!r} must hold one assistant message (it holds {len(messages)})")
        return ""
    return _response(messages[0][2], side, errors)


def _dialogue(data: Mapping[str, Any], side: str, errors: list[str]) -> list[Message]:
    value = data.get(side)
    if isinstance(value, str):
        return _hh_text(value, side, errors)
    if isinstance(value, list):
        return _messages(value, side, errors)
    errors.append(
        f"missing field {side!r}"
        if value is None
        else f"{side!r} must be a dialogue: a list of messages or HH text"
    )
    return []


def _hh_text(text: str, side: str, errors: list[str]) -> list[Message]:
    """HH-RLHF's text form as messages: each turn after "Human:" or "Assistant:"."""
    parts = _HH_SPEAKER.split(text)
    if parts[0].strip() or len(parts) == 1:
        errors.append(f"{side!r} does not begin with 'Human:' (HH-RLHF's dialogue text)")
        return []
    messages = []
    for number, (speaker, said) in enumerate(zip(parts[1::2], parts[2::2], strict=True), 1):
        messages.append((f"{side} turn {number}", _HH_ROLES[speaker], said))
    return messages


def _messages(raw: list[Any], key: str, errors: list[str]) -> list[Message]:
    """A message list as (label, role, text); tool calls, media and unknown roles are errors."""
    messages: list[Message] = []
    for index, message in enumerate(raw):
        label = f"{key}[{index}]"
        if not isinstance(message, Mapping):
            errors.append(f"{label} must be an object")
            continue
        role = chats.role_of(message, chats.OPENAI_CHAT, label, errors)
        text = chats.text_of(message, chats.OPENAI_CHAT, label, errors) if role else None
        if role is None or text is None:
            continue
        if chats.MEDIA_TAG.search(text):
            errors.append(f"{label} holds an image, audio or video tag; {chats.NO_MEDIA}")
            continue
        messages.append((label, role, text))
    return messages


def _split(dialogue: list[Message], side: str, errors: list[str]) -> tuple[list[Message], str]:
    """A whole dialogue's prompt (every message before the last) and its last assistant turn."""
    if not dialogue:
        errors.append(f"{side!r} has no turns")
        return [], ""
    *prompt, (label, role, text) = dialogue
    if role != "assistant":
        errors.append(f"{side!r} ends with a {role} turn, not the assistant's response")
        return prompt, ""
    return prompt, _response(text, side, errors, label)


def _response(text: str, side: str, errors: list[str], label: str | None = None) -> str:
    """A response as given; an error when it is blank (a pair needs both)."""
    if not text.strip():
        errors.append(f"{label or repr(side)}: the {side} response is empty")
    return text


def _said(messages: list[Message]) -> list[tuple[str, str]]:
    return [(role, text) for _label, role, text in messages]


def _pair(
    prompt: list[Message], system: str, chosen: str, rejected: str, errors: list[str]
) -> Fields:
    """The pair's fields from its prompt's messages: a lone user message is its instruction,
    earlier turns are its turns; a leading system message is its system prompt."""
    if prompt and prompt[0][1] == "system":
        (label, _role, text), *prompt = prompt
        if system and text != system:
            errors.append(f"{label} is a second system prompt, unlike the 'system' column")
        system = text
    for label, role, _text in prompt:
        if role == "system":
            errors.append(f"{label} is a system message after the conversation began")
    if not prompt:
        errors.append("the prompt has no user message")
    elif prompt[0][1] != "user":
        errors.append(f"{prompt[0][0]}: a pair's prompt starts with a user turn, not the assistant")
    for (_, before, _), (label, role, _) in zip(prompt, prompt[1:], strict=False):
        if role == before and role != "system":
            errors.append(f"{label} is a second {role} turn in a row; user and assistant alternate")
    if prompt and prompt[-1][1] != "user":
        errors.append(
            f"{prompt[-1][0]}: the prompt ends with an assistant turn; a pair's prompt ends "
            "with the user turn that its two responses answer"
        )
    for label, role, text in prompt:
        if not text.strip():
            errors.append(f"{label} is an empty {role} turn")
    if errors:
        return _FAILED
    fields: Fields = {"kind": "preference", "system": system, "output": chosen,
                      "rejected": rejected}  # fmt: skip
    if len(prompt) == 1:
        return {**fields, "instruction": prompt[0][2]}
    return {**fields, "turns": [{"role": role, "content": text} for _, role, text in prompt]}
