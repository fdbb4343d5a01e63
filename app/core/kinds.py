"""Item kinds and the content model shared by the web app, exports and the trainer.

``ItemContent`` is what an item *says*: the part that renders into a prompt (design §5) and that
the content hash covers. Who wrote it, its tags and its review state live with the database row.
Error messages are shown to annotators as they are, so they are written as sentences.

This is the one definition of item content: the item table's content columns, revision
snapshots, the import's rows, exports and the editor's draft all take their field list from
``CONTENT_FIELDS``. Adding a field means editing this module, the ``Item`` model and a migration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic_core import PydanticCustomError


class ItemKind(StrEnum):
    task = "task"
    constraint = "constraint"
    example = "example"


# The fields of the first content schema: the canonical JSON always holds them, as it always
# has. A field added later enters it only when it differs from its default, so adding one never
# moves the hash of existing content. Never extend this tuple.
ALWAYS_HASHED = (
    "kind",
    "instruction",
    "input",
    "output",
    "demos",
    "constraints",
    "rules",
    "state_constraints",
    "language",
)
# The dataset manifest's deliberate subset: an item's words, not how they are stated or
# detected. Changing it would change the manifest hash of every dataset version.
MANIFEST_FIELDS = ("kind", "instruction", "input", "output", "demos", "constraints")


def _invalid(message: str) -> PydanticCustomError:
    # A custom error keeps the message as written; ValueError would prefix it with "Value error, ".
    return PydanticCustomError("invalid_content", message)


def _with_article(kind: ItemKind) -> str:
    return f"An {kind}" if kind[0] in "aeiou" else f"A {kind}"


class _Strict(BaseModel):
    # A misspelt field in an import should fail loudly, not vanish from the content and its hash.
    model_config = ConfigDict(extra="forbid")


class Demo(_Strict):
    """One demonstration pair of a few-shot (``example``) item."""

    input: str
    output: str


class ConstraintRef(_Strict):
    """A machine-checkable constraint: a registry id and its parameters."""

    id: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise _invalid("A constraint needs an id.")
        return value


class ContentFields(_Strict):
    """The fields of item content, their types and defaults, without the rules that tie them
    together: the editor's draft and the API's item hold these before any check."""

    kind: ItemKind
    instruction: str
    input: str = ""
    output: str = ""
    demos: list[Demo] = Field(default_factory=list)
    constraints: list[ConstraintRef] = Field(default_factory=list)
    # Free-text rules that no checker covers; the instruction states them in words.
    rules: list[str] = Field(default_factory=list)
    # Off for imported prompts whose instruction already states the registry constraints.
    state_constraints: bool = True
    language: str = "en"


class ItemContent(ContentFields):
    """The renderable content of an item; ``input`` is the query for ``example`` items."""

    @field_validator("instruction")
    @classmethod
    def _instruction_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise _invalid("The instruction must not be empty.")
        return value

    @field_validator("language")
    @classmethod
    def _language_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise _invalid("The language must not be empty (for example 'en' or 'zh').")
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> ItemContent:
        if self.kind is not ItemKind.example and self.demos:
            raise _invalid(
                f"{_with_article(self.kind)} item cannot have demonstrations; use an example item."
            )
        if self.kind is not ItemKind.constraint and (self.constraints or self.rules):
            raise _invalid(
                f"{_with_article(self.kind)} item cannot have constraints or rules; "
                "use a constraint item."
            )
        if self.kind is ItemKind.example:
            self._check_example()
        return self

    @classmethod
    def from_row(cls, row: Any) -> ItemContent:
        """The content of an ``Item`` row, a revision snapshot or any mapping of its fields;
        a field the row lacks takes its default."""
        if isinstance(row, Mapping):
            return cls.model_validate({k: row[k] for k in CONTENT_FIELDS if k in row})
        return cls.model_validate({k: getattr(row, k) for k in CONTENT_FIELDS if hasattr(row, k)})

    def _check_example(self) -> None:
        if not self.demos:
            raise _invalid("An example item needs at least one demonstration.")
        for number, demo in enumerate(self.demos, start=1):
            if not demo.input.strip():
                raise _invalid(f"Demonstration {number} needs an input.")
            if not demo.output.strip():
                raise _invalid(f"Demonstration {number} needs an output.")
        # The prompt ends with "Input: <query>"; without a query the few-shot prompt is incomplete.
        if not self.input.strip():
            raise _invalid("An example item needs a query input after its demonstrations.")


CONTENT_FIELDS: tuple[str, ...] = tuple(ItemContent.model_fields)


def later_defaults(model: type[ContentFields]) -> dict[str, Any]:
    """The fields of ``model`` added after the first schema, with the JSON of their defaults."""
    return {
        name: TypeAdapter(field.annotation).dump_python(
            field.get_default(call_default_factory=True), mode="json"
        )
        for name, field in model.model_fields.items()
        if name not in ALWAYS_HASHED
    }


_LATER_DEFAULTS = later_defaults(ItemContent)


def hashed_fields(
    dump: Mapping[str, Any], later: Mapping[str, Any] = _LATER_DEFAULTS
) -> dict[str, Any]:
    """What the canonical JSON holds of ``content.model_dump(mode="json")``: every field of
    the first schema, and a later field only where it differs from its default."""
    return {k: v for k, v in dump.items() if k not in later or v != later[k]}


def canonical_json(content: ItemContent) -> str:
    """The content as canonical JSON: sorted keys, no whitespace, non-ASCII kept as is."""
    return _canonical_text(content.model_dump(mode="json"))


def _canonical_text(dump: Mapping[str, Any]) -> str:
    fields = hashed_fields(dump) if _LATER_DEFAULTS else dump
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(content: ItemContent | Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON (UTF-8); the same on every run and machine."""
    if not isinstance(content, ItemContent):
        content = ItemContent.model_validate(content)
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def dump_hash(dump: Mapping[str, Any]) -> str:
    """:func:`content_hash` of ``content.model_dump(mode="json")``, without validating it again
    (the import's path: it has just validated and dumped the row)."""
    fields = hashed_fields(dump) if _LATER_DEFAULTS else dump
    if _spelt_alike(fields):
        # orjson writes these values byte for byte as the canonical text does, at half the cost
        # (an import hashes every row); it refuses integers past 64 bits and lone surrogates.
        try:
            return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()
        except orjson.JSONEncodeError:
            pass
    return hashlib.sha256(_canonical_text(dump).encode("utf-8")).hexdigest()


def _spelt_alike(value: Any) -> bool:
    """Whether orjson spells ``value`` as ``json.dumps`` does: strings, booleans, null and
    integers, in lists and string-keyed objects. Floats are left out: the two write some
    differently (1e-05 and 0.00001)."""
    kind = value.__class__
    if kind is str or kind is bool or kind is int or value is None:
        return True
    if kind is list:
        return all(map(_spelt_alike, value))
    if kind is dict:
        return all(key.__class__ is str and _spelt_alike(item) for key, item in value.items())
    return False
