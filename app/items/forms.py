"""Turn the item editor's form fields into an ItemDraft, keeping everything typed.

Field names: ``instruction``, ``input``, ``output``; example demos as repeated
``demo_input`` / ``demo_output``; constraint rows as ``c.<row>.id`` and
``c.<row>.<param>`` listed by repeated ``constraint_row``; ``rules`` one per line;
``tags`` comma-separated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.core import constraints as registry
from app.core.kinds import ItemKind
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
    state = EditorState(kind=kind, values=values, demos=demos, constraint_rows=rows)
    try:
        draft = ItemDraft(
            kind=ItemKind(kind),
            instruction=values["instruction"],
            input=values["input"],
            output=values["output"],
            demos=demos if kind == "example" else [],
            constraints=[{"id": r["id"], "params": r["params"]} for r in rows]
            if kind == "constraint"
            else [],
            rules=[r for r in str(values["rules"]).splitlines() if r.strip()]
            if kind == "constraint"
            else [],
            state_constraints=values["state_constraints"] if kind == "constraint" else True,
            domain=values["domain"] or None,
            difficulty=_int_or_none(values["difficulty"]),
            tags=split_list(str(values["tags"])),
            language=values["language"] or None,
        )
    except ValidationError as error:
        errors = {".".join(str(p) for p in e["loc"]): e["msg"] for e in error.errors()}
        return None, state, errors
    return draft, state, {}


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
        },
        demos=list(item.demos or []) or [{"input": "", "output": ""}],
        constraint_rows=rows,
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
        },
        demos=[{"input": "", "output": ""}],
    )
