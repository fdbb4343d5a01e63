"""Turn the item editor's form fields into an ItemDraft, keeping everything typed.

Field names: ``instruction``, ``input``, ``output``; ``system`` (any kind); example demos as
repeated ``demo_input`` / ``demo_output``; a conversation's turns, in order, as repeated
``turn_role`` / ``turn_content``; constraint rows as ``c.<row>.id`` and ``c.<row>.<param>``
listed by repeated ``constraint_row``; ``rules`` one per line; ``tags`` comma-separated.

A preference pair adds ``rejected`` (its chosen response is ``output``) and ``prompt_form``,
which says which prompt fields count: ``single`` (instruction and input), ``few_shot``
(demonstrations and a query input) or ``turns`` (a conversation's earlier turns). The form
carries all three; the other two are ignored, so switching back and forth loses no text.
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
from app.i18n import N_
from app.items.schemas import ItemDraft
from app.projects.service import split_list

# The ways a pair's prompt is written, in the order the editor offers them.
PROMPT_FORMS = ("single", "few_shot", "turns")
SAME_RESPONSES = N_("The chosen and the rejected response are the same; a pair needs two.")


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
    # A pair's prompt form (PROMPT_FORMS); other kinds have one form each.
    prompt_form: str = "single"

    @property
    def conversation(self) -> bool:
        return self.kind == ItemKind.conversation

    @property
    def pair(self) -> bool:
        return self.kind == ItemKind.preference

    @property
    def turns_prompt(self) -> bool:
        """A pair whose prompt is a conversation's earlier turns."""
        return self.pair and self.prompt_form == "turns"

    @property
    def dialogue(self) -> bool:
        """Its turns count: a conversation, or a pair whose prompt is turns."""
        return self.conversation or self.turns_prompt

    @property
    def few_shot(self) -> bool:
        """Its demonstrations count: an example, or a pair whose prompt is few-shot."""
        return self.kind == ItemKind.example or (self.pair and self.prompt_form == "few_shot")

    @property
    def constrained(self) -> bool:
        return self.kind in CONSTRAINED_KINDS

    def content_fields(self) -> dict[str, Any]:
        """The texts to measure and check: the typed values with the turns that count."""
        return {**self.values, "turns": self.turns if self.dialogue else []}


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
    """(draft or None, state to re-render, errors); with errors, the draft (if any) is only
    for the live checks' preview, not to save. The state always keeps the text."""
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
            "rejected",
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
    state = EditorState(
        kind=kind,
        values=values,
        demos=demos,
        constraint_rows=rows,
        turns=turns,
        prompt_form=_prompt_form(form, demos) if kind == ItemKind.preference else "single",
    )
    constrained = state.constrained
    # A conversation's instruction and output are its first and last turns; a pair whose
    # prompt is turns has its first user turn as instruction, and no input.
    from_turns = state.dialogue
    # A field the form did not send is left out of the draft, so that saving keeps the stored
    # value (a form from before the system prompt and the turns existed).
    later: dict[str, Any] = {"system": values["system"]} if "system" in form else {}
    if state.conversation and "turn_role" in form:
        later["turns"] = turns
    if state.pair:
        later["turns"] = turns if state.turns_prompt else []
        later["rejected"] = values["rejected"]
    try:
        draft = ItemDraft(
            kind=ItemKind(kind),
            instruction="" if from_turns else values["instruction"],
            input="" if from_turns else values["input"],
            output="" if state.conversation else values["output"],
            demos=demos if state.few_shot else [],
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
    # The content model refuses two equal responses too, but about the pair as a whole: the
    # form shows it beside the rejected one, and the live checks still preview the prompt.
    if state.pair and values["output"].strip() and values["output"] == values["rejected"]:
        return draft, state, {"rejected": SAME_RESPONSES}
    return draft, state, {}


def _prompt_form(form: FormData, demos: list[dict[str, str]]) -> str:
    """The pair's prompt form as chosen, or, from a form that does not say, the one its fields
    fill: turns when it sends turns, few-shot when it sends a demonstration."""
    chosen = str(form.get("prompt_form", ""))
    if chosen in PROMPT_FORMS:
        return chosen
    if "turn_role" in form:
        return "turns"
    if any(demo["input"].strip() or demo["output"].strip() for demo in demos):
        return "few_shot"
    return "single"


_TURN_FIELD = re.compile(r"^turns\.(\d+)(?:\.\w+)?$")


def placed_errors(state: EditorState, errors: dict[str, str]) -> dict[str, str]:
    """``errors`` keyed where the editor shows them. A conversation has no instruction or
    output field: its first and last turns stand for them, so an error on the output goes to
    its last turn, and one on the instruction or without a field to the turns as a whole
    (``turns``); the content model keys an error about one turn ``turns.{i}`` itself. A pair
    whose prompt is turns has its responses in their own fields, and the rest as a
    conversation."""
    if not state.dialogue:
        return errors
    last = max(len(state.turns) - 1, 0)
    placed: dict[str, str] = {}
    for key, message in errors.items():
        spot = _TURN_FIELD.match(key)
        if spot:
            key = f"turns.{spot.group(1)}"
        elif key == "output" and state.conversation:
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
            "rejected": item.rejected or "",
        },
        demos=list(item.demos or []) or [{"input": "", "output": ""}],
        constraint_rows=rows,
        turns=[dict(turn) for turn in item.turns or []] or _first_exchange(item.kind),
        prompt_form="turns" if item.turns else "few_shot" if item.demos else "single",
    )


def blank_state(kind: str, prompt_form: str = "single") -> EditorState:
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
            "rejected": "",
        },
        demos=[{"input": "", "output": ""}],
        turns=_first_exchange(kind),
        prompt_form=prompt_form if prompt_form in PROMPT_FORMS else "single",
    )


def _first_exchange(kind: str) -> list[dict[str, str]]:
    """A new conversation: one empty user turn and one empty assistant turn; a pair's prompt
    turns start as one user turn, which the two responses answer."""
    if kind == ItemKind.preference:
        return [{"role": Role.user.value, "content": ""}]
    return [{"role": Role.user.value, "content": ""}, {"role": Role.assistant.value, "content": ""}]
