"""Recognising a file's schema and converting its rows to items.

Known schemas: ``alpaca``, ``self_instruct``, ``dolly``, ``sharegpt``, ``openai_chat``,
``ifeval``, the preference formats ``trl_preference`` and ``hh_rlhf`` (``pairs``), and
``studio`` (our own exports, restored exactly from their ``metadata``). A file that fits none
is ``unknown``; its rows convert once a mapping names the columns that hold the instruction,
input and output.

Chat rows (ShareGPT, OpenAI chat, Alpaca with LLaMA-Factory's ``history``) keep their system
prompt and every turn (``chats``); the ``form`` option makes rows of one exchange tasks instead.

Without metadata, an export of ours reads back as the rendered messages: a task's user turn
(instruction, blank line, input) becomes a one-exchange conversation, or a task whose
instruction it is in the ``task`` form, with an empty input: the rendering cannot be split back
into fields reliably, and the prompt a model sees stays the same.

``Converted.meta["needs_output"]`` is True when the item has no output yet (IFEval prompts,
chats that end on the user turn, empty outputs, a pair without its rejected response); such
items belong in drafts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.core.kinds import ItemContent, ItemKind

from . import chats, converters, pairs
from .fields import source_id, validation_messages
from .metadata import looks_like_metadata

SCHEMAS = (
    "studio",
    "ifeval",
    "self_instruct",
    "sharegpt",
    "openai_chat",
    "dolly",
    "alpaca",
    *pairs.SCHEMAS,
)
UNKNOWN = "unknown"
MAPPABLE_FIELDS = ("instruction", "input", "output")


@dataclass
class Converted:
    """One row as item content plus item meta, or the reasons it could not be converted.

    ``meta`` always has ``domain``, ``tags``, ``difficulty``, ``needs_output``, ``source_id``
    and ``language``: the language the file states (our exports do), or None when it does not
    and the language should be detected (``content.language`` is then the default ``en``);
    items from our own export add ``item_id`` and ``revision``.
    """

    content: ItemContent | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def schema_of(data: Mapping[str, Any]) -> str:
    """The schema one row fits, checked from the most to the least specific."""
    if looks_like_metadata(data.get("metadata")):
        return "studio"
    pair_schema = pairs.schema_of(data)
    if pair_schema is not None:
        return pair_schema
    if "prompt" in data and "instruction_id_list" in data:
        return "ifeval"
    if "instruction" in data and "instances" in data:
        return "self_instruct"
    if "conversations" in data:
        return "sharegpt"
    if "messages" in data:
        return "openai_chat"
    if "instruction" in data and "response" in data:
        return "dolly"
    if "instruction" in data and "output" in data:
        return "alpaca"
    return UNKNOWN


def detect_schema(records: Iterable[Mapping[str, Any]]) -> str:
    """The schema most sample rows fit, if at least half fit it; otherwise ``unknown``.

    Pass the first rows of a file (say 100); rows that failed to read are left out by the caller.
    """
    votes = Counter(schema_of(data) for data in records if isinstance(data, Mapping))
    if not votes:
        return UNKNOWN
    schema, count = votes.most_common(1)[0]
    return schema if count * 2 >= votes.total() else UNKNOWN


# Column names people use for our fields, for pre-filling the mapping form of an unknown file.
_LIKELY_COLUMNS = {
    "instruction": ("instruction", "prompt", "question", "query", "task", "text"),
    "input": ("input", "context", "passage"),
    "output": ("output", "response", "answer", "completion", "target", "reply"),
}


def suggest_mapping(columns: Iterable[str]) -> dict[str, str]:
    """A mapping guess from a file's column names (case-insensitive); the user confirms it."""
    by_lower = {column.lower(): column for column in columns}
    mapping = {}
    for ours, candidates in _LIKELY_COLUMNS.items():
        found = next((by_lower[name] for name in candidates if name in by_lower), None)
        if found is not None and found not in mapping.values():
            mapping[ours] = found
    return mapping


def check_mapping(schema: str, mapping: Mapping[str, str] | None) -> None:
    """Raise ``ValueError`` for a mapping that cannot apply: call before converting a file."""
    if schema not in (*SCHEMAS, UNKNOWN):
        raise ValueError(f"Unknown schema {schema!r}.")
    if not mapping:
        return
    if schema not in converters.FLAT_COLUMNS:
        raise ValueError(f"A column mapping applies to alpaca, dolly or unknown, not {schema}.")
    extra = sorted(set(mapping) - set(MAPPABLE_FIELDS))
    if extra:
        raise ValueError(f"Only instruction, input and output can be mapped, not {extra}.")
    if any(not isinstance(column, str) or not column for column in mapping.values()):
        raise ValueError("Each mapped column must be a non-empty column name.")


def convert(
    data: Mapping[str, Any],
    schema: str,
    mapping: Mapping[str, str] | None = None,
    form: str = "conversation",
) -> Converted:
    """One row as an item under ``schema``; ``mapping`` maps our fields to the file's columns.
    ``form`` is what a chat row of one exchange becomes: a ``conversation`` or a ``task``
    (``app.core.formats.chats``).

    Raises ``ValueError`` only for a bad ``schema`` or ``mapping`` (see :func:`check_mapping`);
    problems with the row itself are in ``errors``.
    """
    check_mapping(schema, mapping)
    if form not in chats.FORMS:
        raise ValueError(f"Unknown form {form!r}; expected one of {chats.FORMS}.")
    out = Converted(
        meta={
            "domain": None,
            "tags": [],
            "difficulty": None,
            "needs_output": False,
            "source_id": None if schema == "studio" else source_id(data),
            "language": None,
        }
    )
    if schema == UNKNOWN and not (mapping and "instruction" in mapping):
        out.errors.append(
            "the schema is unknown: choose one, or map the columns holding instruction, "
            "input and output"
        )
        return out
    fields = _fields(data, schema, mapping, out, form)
    if out.errors or fields is None:
        return out
    try:
        content = fields if isinstance(fields, ItemContent) else ItemContent.model_validate(fields)
    except ValidationError as exc:
        out.errors += validation_messages(exc)
        return out
    out.content = content
    # A pair needs both of its responses written.
    unwritten = content.kind is ItemKind.preference and not content.rejected.strip()
    out.meta["needs_output"] = unwritten or not content.output.strip()
    return out


def _fields(
    data: Mapping[str, Any],
    schema: str,
    mapping: Mapping[str, str] | None,
    out: Converted,
    form: str,
) -> dict[str, Any] | ItemContent | None:
    if schema == "alpaca" and not mapping and ("history" in data or "system" in data):
        return chats.alpaca_chat(data, out, form)  # LLaMA-Factory's chat columns
    if schema in converters.FLAT_COLUMNS:
        columns = converters.FLAT_COLUMNS[schema]
        if mapping:
            columns = {**columns, **mapping}
        domain_column = "category" if schema == "dolly" else None
        return converters.flat(data, columns, out, domain_column)
    if schema == "sharegpt":
        return chats.chat(data, chats.SHAREGPT, out, form)
    if schema == "openai_chat":
        return chats.chat(data, chats.OPENAI_CHAT, out, form)
    by_schema = {
        "trl_preference": pairs.trl,
        "hh_rlhf": pairs.hh,
        "self_instruct": converters.self_instruct,
        "ifeval": converters.ifeval,
        "studio": converters.studio,
    }
    return by_schema[schema](data, out)
