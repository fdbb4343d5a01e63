"""Turn the item editor's form fields into an ItemDraft, keeping everything typed.

Field names: ``instruction``, ``input``, ``output``; ``system`` (any kind); example demos as
repeated ``demo_input`` / ``demo_output``; a conversation's turns, in order, as repeated
``turn_role`` / ``turn_content``; constraint rows as ``c.<row>.id`` and ``c.<row>.<param>``
listed by repeated ``constraint_row``; ``rules`` one per line; ``tags`` comma-separated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.core import constraints as registry
from app.core.kinds import CONSTRAINED_KINDS, ItemKind, Role
from app.items.schemas import ItemDraft
from app.projects.service import split_list


async def form_data(request: Request) -> FormData:
    """The submitted form, parsed once (dependency for sync handlers)."""
    return await request.form()


@dataclass
class EditorState:
    """What the editor shows: the draft plus the raw constraint rows as typed."""

    kind: str
    values: dict[str, Any]
    demos: list[dict[str, str]]
    constraint_rows: list[dict[str, Any]] = field(default_factory=list)
    # A conversation's turns as typed: {"role", "content"} each, in order.
    turns: list[dict[str, str]] = field(default_factory=list)

    @property
    def conversation(self) -> bool:
        return self.kind == ItemKind.conversation

    @property
    def constrained(self) -> bool:
        return self.kind in CONSTRAINED_KINDS

    def content_fields(self) -> dict[str, Any]:
        """The texts to measure and check: the typed values with the turns."""
        return {**self.values, "turns": self.turns}


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _coerce(spec_field: dict, raw: str) -> Any:
    if raw == "":
        return None
    if spec_field.get("type") == "int":
        try:
            return int(raw)
        except ValueError:
            return raw
    if spec_field.get("type") == "str_list":  # keywords and the like: comma-separated
        return split_list(raw)
    return raw


def parse(form: FormData, kind: str) -> tuple[ItemDraft | None, EditorState, dict[str, str]]:
    """(draft or None, state to re-render, errors). The state always keeps the text."""
    values = {
        k: form.get(k, "")
        for k in (
            "instruction",
            "input",
            "output",
            "domain",
            "difficulty",
            "tags",
            "language",
            "rules",
            "system",
        )
    }
    values["state_constraints"] = form.get("state_constraints") == "true"
    demos = [
        {"input": i, "output": o}
        for i, o in zip(form.getlist("demo_input"), form.getlist("demo_output"), strict=False)
    ]
    rows = []
    for row in form.getlist("constraint_row"):
        cid = form.get(f"c.{row}.id", "")
        fields = registry.param_fields(cid) if cid in registry.REGISTRY else []
        raw = {f["name"]: form.get(f"c.{row}.{f['name']}", "") for f in fields}
        params = {f["name"]: _coerce(f, raw[f["name"]]) for f in fields}
        rows.append(
            {
                "row": row,
                "id": cid,
                "raw": raw,
                "params": {k: v for k, v in params.items() if v is not None},
            }
        )
    turns = [
        {"role": str(role), "content": str(content)}
        for role, content in zip(
            form.getlist("turn_role"), form.getlist("turn_content"), strict=False
        )
    ]
    state = EditorState(kind=kind, values=values, demos=demos, constraint_rows=rows, turns=turns)
    constrained = state.constrained
    conversation = state.conversation
    # A field the form did not send is left out of the draft, so that saving keeps the stored
    # value (a form from before the system prompt and the turns existed).
    later = {"system": values["system"]} if "system" in form else {}
    if conversation and "turn_role" in form:
        later["turns"] = turns
    try:
        draft = ItemDraft(
            kind=ItemKind(kind),
            # A conversation's instruction and output are its first and last turns.
            instruction="" if conversation else values["instruction"],
            input="" if conversation else values["input"],
            output="" if conversation else values["output"],
            demos=demos if kind == "example" else [],
            constraints=[{"id": r["id"], "params": r["params"]} for r in rows]
            if constrained
            else [],
            rules=[r for r in str(values["rules"]).splitlines() if r.strip()]
            if constrained
            else [],
            state_constraints=values["state_constraints"] if constrained else True,
            domain=values["domain"] or None,
            difficulty=_int_or_none(values["difficulty"]),
            tags=split_list(str(values["tags"])),
            language=values["language"] or None,
            **later,
        )
    except ValidationError as error:
        errors = {".".join(str(p) for p in e["loc"]): e["msg"] for e in error.errors()}
        return None, state, placed_errors(state, errors)
    return draft, state, {}


_TURN_FIELD = re.compile(r"^turns\.(\d+)(?:\.\w+)?$")


def placed_errors(state: EditorState, errors: dict[str, str]) -> dict[str, str]:
    """``errors`` keyed where the editor shows them. A conversation has no instruction or
    output field: its first and last turns stand for them, so an error on the output goes to
    its last turn, and one on the instruction or without a field to the turns as a whole
    (``turns``); the content model keys an error about one turn ``turns.{i}`` itself."""
    if not state.conversation:
        return errors
    last = max(len(state.turns) - 1, 0)
    placed: dict[str, str] = {}
    for key, message in errors.items():
        spot = _TURN_FIELD.match(key)
        if spot:
            key = f"turns.{spot.group(1)}"
        elif key == "output":
            key = f"turns.{last}"
        elif key in ("instruction", "input", ""):
            key = "turns"
        placed.setdefault(key, message)
    return placed


def state_of(item) -> EditorState:
    """The editor state of a saved item."""
    rows = []
    for index, ref in enumerate(item.constraints or []):
        params = ref.get("params", {})
        raw = {k: ", ".join(v) if isinstance(v, list) else str(v) for k, v in params.items()}
        rows.append({"row": str(index), "id": ref["id"], "raw": raw, "params": params})
    return EditorState(
        kind=item.kind,
        values={
            "instruction": item.instruction,
            "input": item.input,
            "output": item.output,
            "domain": item.domain or "",
            "difficulty": item.difficulty or "",
            "tags": ", ".join(item.tags or []),
            "language": item.language,
            "rules": "\n".join(item.rules or []),
            "state_constraints": item.state_constraints,
            "system": item.system or "",
        },
        demos=list(item.demos or []) or [{"input": "", "output": ""}],
        constraint_rows=rows,
        turns=[dict(turn) for turn in item.turns or []] or _first_exchange(),
    )


def blank_state(kind: str) -> EditorState:
    return EditorState(
        kind=kind,
        values={
            "instruction": "",
            "input": "",
            "output": "",
            "domain": "",
            "difficulty": "",
            "tags": "",
            "language": "",
            "rules": "",
            "state_constraints": True,
            "system": "",
        },
        demos=[{"input": "", "output": ""}],
        turns=_first_exchange(),
    )


def _first_exchange() -> list[dict[str, str]]:
    """A new conversation: one empty user turn and one empty assistant turn."""
    return [{"role": Role.user.value, "content": ""}, {"role": Role.assistant.value, "content": ""}]
