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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.core.json_spelling import spelt_alike
from app.core.turn_order import (
    Role,
    pair_turn_problem,
    turn_order_fault,
    turn_order_problem,
    turn_text,
)


class ItemKind(StrEnum):
    task = "task"
    constraint = "constraint"
    example = "example"
    conversation = "conversation"
    # A prompt with a better (``output``) and a worse (``rejected``) response, for preference
    # optimisation; supervised fine-tuning leaves it out.
    preference = "preference"


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
# Words added to content later: in a manifest line only when set, so that versions frozen
# before they existed keep their hash.
MANIFEST_LATER_FIELDS = ("system", "turns", "rejected")


def _invalid(message: str, turn: int | None = None) -> PydanticCustomError:
    """A custom error keeps the message as written (ValueError would prefix it with "Value
    error, "); ``turn`` (0-based, in the error's context) names the conversation turn at fault,
    which a form shows the message beside. Messages hold no braces: they would be formatted."""
    return PydanticCustomError("invalid_content", message, None if turn is None else {"turn": turn})


def error_turn(error: Mapping[str, Any]) -> int | None:
    """The 0-based turn a validation error of ``ItemContent`` is about, if any."""
    return (error.get("ctx") or {}).get("turn")


def _with_article(kind: ItemKind) -> str:
    return f"An {kind}" if kind[0] in "aeiou" else f"A {kind}"


class _Strict(BaseModel):
    # A misspelt field in an import should fail loudly, not vanish from the content and its hash.
    model_config = ConfigDict(extra="forbid")


class Demo(_Strict):
    """One demonstration pair of a few-shot (``example``) item."""

    input: str
    output: str


class Turn(_Strict):
    """One turn of a conversation, as chat formats write it."""

    role: Role
    content: str


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
    # Every kind may carry a system prompt; it renders as the conversation's system message.
    system: str = ""
    # A conversation's turns, user first, alternating, ending with the assistant. Its first
    # user turn also stands as the instruction and its last assistant turn as the output, so
    # that lists, labeling, constraint checks and evaluation read every kind alike.
    turns: list[Turn] = Field(default_factory=list)
    # A preference pair's worse response; its better one is ``output`` (the *chosen*), so that
    # lists, labeling and constraint checks read a pair's chosen response as any output.
    rejected: str = ""


class ItemContent(ContentFields):
    """The renderable content of an item; ``input`` is the query for ``example`` items."""

    @model_validator(mode="before")
    @classmethod
    def _conversation_ends(cls, data: Any) -> Any:
        # A conversation's instruction and output are its first and last turns; a client may
        # leave them out, and must not state others.
        if not isinstance(data, Mapping):
            return data
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in DIALOGUE_KINDS:
            return data
        turns = data.get("turns") or []
        if not isinstance(turns, list):
            return data
        if data.get("kind") == ItemKind.preference:
            return _pair_instruction(data, turns)
        if not turns:
            raise _invalid(turn_order_problem([]) or "")
        ends = {"instruction": turn_text(turns[0]), "output": turn_text(turns[-1])}
        data = dict(data)
        for name, text in ends.items():
            given = data.get(name)
            if text is None or given == text:
                continue
            if given:
                first = "first user" if name == "instruction" else "last assistant"
                raise _invalid(
                    f"A conversation's {name} is its {first} turn; leave the {name} out or "
                    "make it the same."
                )
            data[name] = text
        return data

    @field_validator("instruction")
    @classmethod
    def _instruction_not_blank(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            if info.data.get("kind") is ItemKind.conversation:
                # Its first user turn; turns are validated after this field, so say it here.
                raise _invalid("Turn 1 (user) is empty.", turn=0)
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
        # Emptiness first: most items have none, and an enum's membership test costs a call.
        if self.demos and self.kind not in FEW_SHOT_KINDS:
            raise _invalid(
                f"{_with_article(self.kind)} item cannot have demonstrations; use an example item."
            )
        if (self.constraints or self.rules) and self.kind not in CONSTRAINED_KINDS:
            raise _invalid(
                f"{_with_article(self.kind)} item cannot have constraints or rules; "
                "use a constraint item."
            )
        if self.turns and self.kind not in DIALOGUE_KINDS:
            raise _invalid(
                f"{_with_article(self.kind)} item cannot have turns; use a conversation item."
            )
        if self.rejected and self.kind is not ItemKind.preference:
            raise _invalid(
                f"{_with_article(self.kind)} item has no rejected response; use a preference pair."
            )
        if self.kind is ItemKind.example:
            self._check_example()
        if self.kind is ItemKind.conversation:
            self._check_conversation()
        if self.kind is ItemKind.preference:
            self._check_pair()
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
        self._check_demos()
        # The prompt ends with "Input: <query>"; without a query the few-shot prompt is incomplete.
        if not self.input.strip():
            raise _invalid("An example item needs a query input after its demonstrations.")

    def _check_demos(self) -> None:
        for number, demo in enumerate(self.demos, start=1):
            if not demo.input.strip():
                raise _invalid(f"Demonstration {number} needs an input.")
            if not demo.output.strip():
                raise _invalid(f"Demonstration {number} needs an output.")

    def _check_pair(self) -> None:
        # A pair's prompt is any kind's prompt part: an instruction with its input, few-shot
        # demonstrations with a query, or a conversation's earlier turns ending with the user.
        if self.demos and self.turns:
            raise _invalid(
                "A preference pair's prompt has demonstrations or earlier turns, not both."
            )
        if self.demos:
            self._check_demos()
            if not self.input.strip():
                raise _invalid("A pair with demonstrations needs a query input after them.")
        if self.turns:
            roles = [turn.role for turn in self.turns]
            problem = pair_turn_problem(roles)
            if problem:
                raise _invalid(problem, turn=turn_order_fault(roles))
            for index, turn in enumerate(self.turns):
                if not turn.content.strip():
                    raise _invalid(f"Turn {index + 1} ({turn.role}) is empty.", turn=index)
            if self.input:
                raise _invalid("A pair whose prompt is turns has no input; the turns hold it.")
        if self.rejected.strip() and self.rejected == self.output:
            raise _invalid("The chosen and the rejected response are the same; a pair needs two.")

    def _check_conversation(self) -> None:
        roles = [turn.role for turn in self.turns]
        problem = turn_order_problem(roles)
        if problem:
            raise _invalid(problem, turn=turn_order_fault(roles))
        # The last assistant turn may wait to be written, as a task's output may.
        for index, turn in enumerate(self.turns[:-1]):
            if not turn.content.strip():
                raise _invalid(f"Turn {index + 1} ({turn.role}) is empty.", turn=index)
        if self.input:
            raise _invalid("A conversation has no input; its turns hold the text.")


CONTENT_FIELDS: tuple[str, ...] = tuple(ItemContent.model_fields)
# The kinds whose output registry constraints and free-text rules are checked on.
CONSTRAINED_KINDS = frozenset({ItemKind.constraint, ItemKind.conversation, ItemKind.preference})
# The kinds that may hold turns: a conversation, and a pair whose prompt is earlier turns.
DIALOGUE_KINDS = frozenset({ItemKind.conversation, ItemKind.preference})
# The kinds that may hold demonstrations.
FEW_SHOT_KINDS = frozenset({ItemKind.example, ItemKind.preference})
# The kinds supervised fine-tuning trains on; a pair is for preference optimisation.
SFT_KINDS = frozenset(set(ItemKind) - {ItemKind.preference})


def _pair_instruction(data: Mapping[str, Any], turns: list[Any]) -> Mapping[str, Any]:
    """A pair whose prompt is turns has its first user turn as instruction, as a conversation
    has; a client may leave it out, and must not state another."""
    if not turns:
        return data
    text = turn_text(turns[0])
    if text is not None and not text.strip():
        raise _invalid("Turn 1 (user) is empty.", turn=0)
    given = data.get("instruction")
    if text is None or given == text:
        return data
    if given:
        raise _invalid(
            "A pair's instruction is its first user turn; leave the instruction out or make it "
            "the same."
        )
    return {**data, "instruction": text}


def pair_of(content: ItemContent, chosen: str, rejected: str) -> ItemContent:
    """A preference pair over the prompt of ``content`` (any kind's prompt part: its system
    prompt, instruction and input, demonstrations, constraints, or a conversation's turns up to
    its final user turn), with the two responses given."""
    prompt = content.model_dump(exclude={"kind", "output", "rejected", "turns"})
    turns = [turn.model_dump() for turn in content.turns]
    if content.kind is ItemKind.conversation:
        turns = turns[:-1]  # its last assistant turn is the answer the pair replaces
    return ItemContent.model_validate(
        {
            **prompt,
            "kind": ItemKind.preference,
            "turns": turns,
            "output": chosen,
            "rejected": rejected,
        }
    )


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
    fields = dict(dump)  # dropping the few later fields beats rebuilding from every field
    for name, default in later.items():
        if name in fields and fields[name] == default:
            del fields[name]
    return fields


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
    if spelt_alike(fields):
        # orjson writes these values byte for byte as the canonical text does, at half the cost
        # (an import hashes every row); it refuses integers past 64 bits and lone surrogates.
        try:
            return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()
        except orjson.JSONEncodeError:
            pass
    return hashlib.sha256(_canonical_text(dump).encode("utf-8")).hexdigest()
