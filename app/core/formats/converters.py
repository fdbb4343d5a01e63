"""One converter per known schema: a row's fields to item content fields and item meta.

Each converter appends field-named reasons to ``out.errors`` (and notes about dropped data to
``out.warnings``), fills ``out.meta`` and returns the ``ItemContent`` fields; ``schemas.convert``
validates them. Text is copied exactly as given: nothing is stripped or normalised here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import chats
from . import metadata as studio_metadata
from .fields import constraint_ref, get_list, get_object, get_optional_text, get_text

if TYPE_CHECKING:
    from app.core.kinds import ItemContent

    from .schemas import Converted

Fields = dict[str, Any]

# Our field -> the file's column, per flat schema; a user mapping replaces entries.
FLAT_COLUMNS: dict[str, dict[str, str]] = {
    "alpaca": {"instruction": "instruction", "input": "input", "output": "output"},
    "dolly": {"instruction": "instruction", "input": "context", "output": "response"},
    "unknown": {},
}


def flat(
    data: Mapping[str, Any],
    columns: Mapping[str, str],
    out: Converted,
    domain_column: str | None = None,
) -> Fields:
    """Alpaca, Dolly and mapped columns: one column each for instruction, input and output.

    A named instruction or output column must be present; input is optional everywhere, and an
    unmapped output leaves the item needing one.
    """
    fields: Fields = {"kind": "task"}
    for ours in ("instruction", "input", "output"):
        column = columns.get(ours)
        if column is not None:
            fields[ours] = get_text(data, column, out.errors, required=ours != "input")
    if domain_column is not None:
        out.meta["domain"] = get_optional_text(data, domain_column, out.errors)
    return fields


def self_instruct(data: Mapping[str, Any], out: Converted) -> Fields:
    """One instance is a task; several make an example whose last instance is the query."""
    instruction = get_text(data, "instruction", out.errors)
    instances = get_list(data, "instances", out.errors)
    if "instances" in data and not instances and not out.errors:
        out.errors.append("'instances' must not be empty")
    pairs = []
    for index, value in enumerate(instances):
        label = f"instances[{index}]"
        instance = get_object(value, label, out.errors)
        if instance is None:
            continue
        given = get_text(instance, "input", out.errors, label=f"{label}.input", required=False)
        output = get_text(instance, "output", out.errors, label=f"{label}.output")
        pairs.append({"input": given, "output": output})
    if len(pairs) <= 1:
        pair = pairs[0] if pairs else {"input": "", "output": ""}
        return {"kind": "task", "instruction": instruction, **pair}
    query = pairs[-1]
    return {"kind": "example", "instruction": instruction, "demos": pairs[:-1], **query}


def sharegpt(data: Mapping[str, Any], out: Converted, form: str = "conversation") -> Fields:
    return chats.chat(data, chats.SHAREGPT, out, form)


def openai_chat(data: Mapping[str, Any], out: Converted, form: str = "conversation") -> Fields:
    return chats.chat(data, chats.OPENAI_CHAT, out, form)


def ifeval(data: Mapping[str, Any], out: Converted) -> Fields:
    """An IFEval prompt with its registry constraints; the prompt already states them in words."""
    ids = get_list(data, "instruction_id_list", out.errors)
    kwargs = get_list(data, "kwargs", out.errors, required=False) or [{}] * len(ids)
    if len(kwargs) != len(ids):
        out.errors.append(
            f"'kwargs' has {len(kwargs)} entries but 'instruction_id_list' has {len(ids)}"
        )
    constraints = []
    for index, (constraint_id, params) in enumerate(zip(ids, kwargs, strict=False)):
        if params is not None and not isinstance(params, Mapping):
            out.errors.append(f"'kwargs[{index}]' must be an object")
            continue
        ref = constraint_ref(constraint_id, params, f"'instruction_id_list[{index}]'", out.errors)
        if ref is not None:
            constraints.append(ref)
    return {
        "kind": "constraint",
        "instruction": get_text(data, "prompt", out.errors),
        # IFEval's input data has no output; its response files pair a prompt with one.
        "output": get_text(data, "response", out.errors, required=False),
        "constraints": constraints,
        "state_constraints": False,
    }


def studio(data: Mapping[str, Any], out: Converted) -> ItemContent | None:
    """Our own export: everything from ``metadata`` except the output, which is the response
    (and a pair's chosen and rejected responses, which are the row's own)."""
    if "chosen" in data and "rejected" in data:
        response = _pair_response(data, "chosen", out.errors)
        rejected = _pair_response(data, "rejected", out.errors)
    else:
        response, rejected = _studio_response(data, out.errors), ""
    content, meta = studio_metadata.restore(
        data.get("metadata"), response, out.errors, rejected=rejected
    )
    out.meta.update(meta)
    return content


def _pair_response(data: Mapping[str, Any], key: str, errors: list[str]) -> str:
    # Text in the plain form; in the others the last assistant message of a list.
    if isinstance(data.get(key), list):
        return _last_reply(data[key], "role", "content", key, errors)
    return get_text(data, key, errors)


def _studio_response(data: Mapping[str, Any], errors: list[str]) -> str:
    # Each export format keeps the response in its own field (see writers.format_row).
    if "messages" in data:
        turns = get_list(data, "messages", errors)
        return _last_reply(turns, "role", "content", "messages", errors)
    if "conversations" in data:
        turns = get_list(data, "conversations", errors)
        return _last_reply(turns, "from", "value", "conversations", errors)
    if "output" in data:
        return get_text(data, "output", errors)
    return get_text(data, "response", errors)


def _last_reply(turns: list[Any], role_key: str, text_key: str, key: str, errors: list[str]) -> str:
    for index in range(len(turns) - 1, -1, -1):
        turn = turns[index]
        if isinstance(turn, Mapping) and turn.get(role_key) in chats.REPLY_ROLES:
            return get_text(turn, text_key, errors, label=f"{key}[{index}].{text_key}")
    errors.append(f"{key!r} has no assistant turn")
    return ""
