"""Live checks while an annotator types: constraints, counts, empty fields, near-duplicates,
and the prompt exactly as the model will see it. A preference pair's two responses are checked
each on its own: counts and constraint verdicts for the chosen and for the rejected one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.core import constraints as registry
from app.core import neardup, prompts
from app.core.cjk import count_words
from app.core.kinds import ItemContent, ItemKind
from app.i18n import N_
from app.items import indexing, repository
from app.items.forms import EditorState
from app.items.lengths import ContentLimits, overlong
from app.items.schemas import ItemDraft
from app.items.validation import language_of
from app.models import Item, NearDupKey
from app.tokenizer import count_tokens

NEAR_DUP_THRESHOLD = 0.5

FIELD_LABELS = {"instruction": N_("Instruction"), "input": N_("Input"), "output": N_("Output")}
# A pair's responses: its chosen one is the ``output`` field.
RESPONSE_LABELS = {"output": N_("Chosen response"), "rejected": N_("Rejected response")}
QUERY_LABEL = N_("Query input")
SYSTEM_LABEL = N_("System prompt")
TURN_LABEL = N_("Turn %(n)s (%(role)s)")
TOTAL_LABEL = N_("Total")

Counts = dict[str, int | None]


@dataclass
class ResponseCheck:
    """One of a pair's responses: its field, counts and constraint verdicts."""

    field: str  # "output" (the chosen response) or "rejected"
    label: str  # msgid
    counts: Counts
    verdicts: list[dict[str, Any]]
    # The same text as the other response: a pair needs two.
    same: bool = False


@dataclass
class LiveReport:
    # One row per text, as (label msgid, its parameters, counts); a conversation's end in a total.
    counts: list[tuple[str, dict[str, Any], Counts]] = field(default_factory=list)
    # Empty required fields, as (label msgid, its parameters) for the reader's language.
    empty: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    preview: dict[str, Any] | None = None
    preview_error: str | None = None
    duplicates: list[tuple[Item, float]] = field(default_factory=list)
    # Texts over their limit, as (message msgid, its parameters): then nothing else is checked.
    too_long: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # A conversation's preview numbers its turns, and its counts end in a total.
    conversation: bool = False
    # A pair: its prompt's turns are numbered when it has turns; its responses are checked
    # each on its own (``responses``), and the preview shows the prompt and both answers.
    pair: bool = False
    numbered: bool = False
    responses: list[ResponseCheck] = field(default_factory=list)


def _counts(text: str) -> Counts:
    return {"words": count_words(text), "chars": len(text), "tokens": count_tokens(text)}


def _total(rows: list[Counts]) -> Counts:
    tokens = [row["tokens"] for row in rows]
    return {
        "words": sum(row["words"] or 0 for row in rows),
        "chars": sum(row["chars"] or 0 for row in rows),
        # Without a tokenizer no text has a token count, and neither has the whole.
        "tokens": None if None in tokens else sum(t or 0 for t in tokens),
    }


def _turn_label(index: int, turn: dict[str, str]) -> tuple[str, dict[str, Any]]:
    # The role goes through the label table in the template: a role is a code, not a msgid.
    return TURN_LABEL, {"n": index + 1, "role": turn.get("role", "")}


def _count_rows(state: EditorState) -> list[tuple[str, dict[str, Any], Counts]]:
    values = state.values
    rows: list[tuple[str, dict[str, Any], Counts]] = []
    if str(values.get("system") or "").strip():
        rows.append((SYSTEM_LABEL, {}, _counts(str(values["system"]))))
    if state.dialogue:
        for index, turn in enumerate(state.turns):
            rows.append((*_turn_label(index, turn), _counts(turn["content"])))
        if state.conversation:
            rows.append((TOTAL_LABEL, {}, _total([counts for _m, _p, counts in rows])))
            return rows
    else:
        for name in ("instruction", "input"):
            label = QUERY_LABEL if name == "input" and state.few_shot else FIELD_LABELS[name]
            rows.append((label, {}, _counts(str(values[name]))))
    if state.pair:
        for name in ("output", "rejected"):
            rows.append((RESPONSE_LABELS[name], {}, _counts(str(values[name]))))
    else:
        rows.append((FIELD_LABELS["output"], {}, _counts(str(values["output"]))))
    return rows


def _empty(state: EditorState) -> list[tuple[str, dict[str, Any]]]:
    """The texts still to write, as (label msgid, its parameters)."""
    values = state.values
    if state.conversation:
        return [
            _turn_label(index, turn)
            for index, turn in enumerate(state.turns)
            if not turn["content"].strip()
        ]
    empty: list[tuple[str, dict[str, Any]]] = []
    if state.turns_prompt:
        empty += [
            _turn_label(index, turn)
            for index, turn in enumerate(state.turns)
            if not turn["content"].strip()
        ]
    else:
        required = ["instruction"] + (["input"] if state.few_shot else [])
        empty += [
            (QUERY_LABEL if name == "input" else FIELD_LABELS[name], {})
            for name in required
            if not str(values[name]).strip()
        ]
    if state.pair:
        names = ("output", "rejected")
        empty += [(RESPONSE_LABELS[name], {}) for name in names if not str(values[name]).strip()]
    elif not str(values["output"]).strip():
        empty.append((FIELD_LABELS["output"], {}))
    if state.few_shot:
        for index, demo in enumerate(state.demos):
            if not demo["input"].strip() or not demo["output"].strip():
                empty.append((N_("Demo %(n)s"), {"n": index + 1}))
    return empty


def _output(state: EditorState) -> str:
    """The text constraints are checked on: the output, a conversation's last turn."""
    if state.conversation:
        return state.turns[-1]["content"] if state.turns else ""
    return str(state.values["output"])


def near_duplicates(
    session: Session,
    *,
    project_id: int,
    text: str,
    exclude_id: int | None,
    limit: int = 5,
    drafts_of: int | None = None,
) -> list[tuple[Item, float]]:
    """Most similar items in the project: LSH candidates, ranked by exact shingle Jaccard;
    only the drafts ``drafts_of`` may see (see ``repository.visible``)."""
    if not text.strip():
        return []
    keys = indexing.band_keys_for(text)
    matches = or_(*(and_(NearDupKey.band == b, NearDupKey.key == k) for b, k in enumerate(keys)))
    query = (
        select(NearDupKey.item_id, func.count().label("shared"))
        .where(NearDupKey.project_id == project_id, matches)
        .group_by(NearDupKey.item_id)
        .order_by(func.count().desc())
        .limit(50)
    )
    if exclude_id is not None:
        query = query.where(NearDupKey.item_id != exclude_id)
    ids = [row.item_id for row in session.execute(query)]
    if not ids:
        return []
    shingles = neardup.shingles(text)
    scored = []
    candidates = repository.visible(select(Item).where(Item.id.in_(ids)), drafts_of)
    for item in session.scalars(candidates):
        score = neardup.exact_jaccard(shingles, neardup.shingles(indexing.item_text(item)))
        if score >= NEAR_DUP_THRESHOLD:
            scored.append((item, score))
    scored.sort(key=lambda pair: (-pair[1], pair[0].id))
    return scored[:limit]


def live_report(
    session: Session,
    *,
    project_id: int,
    state: EditorState,
    draft: ItemDraft | None,
    exclude_id: int | None,
    limits: ContentLimits | None = None,
    drafts_of: int | None = None,
) -> LiveReport:
    values = state.values
    report = LiveReport(conversation=state.conversation, pair=state.pair, numbered=state.dialogue)
    demos = state.demos if state.few_shot else []
    turns = state.turns if state.dialogue else []
    too_long = overlong({**values, "turns": turns}, demos, limits)
    if too_long:  # the save would refuse it: spend no time on a text of any length
        report.too_long = [(message, params) for _field, message, params in too_long]
        return report
    report.counts = _count_rows(state)
    report.empty = _empty(state)
    if state.pair:
        report.responses = _responses(state)
    elif state.constrained:
        output = _output(state)
        for row in state.constraint_rows:
            report.verdicts.append(_verdict(row, output))
    if draft is not None:
        try:
            fields = draft.content_values()
            # Two equal responses are flagged beside their boxes; the prompt still previews.
            rejected = fields["rejected"]
            if rejected == fields["output"]:
                fields["rejected"] = ""
            content = ItemContent.model_validate(
                fields
                | {
                    "constraints": [c for c in draft.constraints if _valid(c.id, c.params)],
                    "language": language_of(draft),
                }
            ).model_copy(update={"rejected": rejected})
            report.preview = _preview(content)
        except ValueError as error:
            report.preview_error = _first_message(error)
    # The text as the item will be indexed: a pair's prompt fields that count, and both of its
    # responses (the hidden fields of its other prompt forms are not part of it).
    text = neardup.item_text(
        "" if state.turns_prompt else values["instruction"],
        "" if state.turns_prompt else values["input"],
        values["output"],
        demos,
        system=str(values.get("system") or ""),
        turns=turns,
        rejected=str(values["rejected"]) if state.pair else "",
    )
    report.duplicates = near_duplicates(
        session, project_id=project_id, text=text, exclude_id=exclude_id, drafts_of=drafts_of
    )
    return report


def _responses(state: EditorState) -> list[ResponseCheck]:
    """A pair's chosen and rejected response, each counted and checked against every
    constraint row on its own."""
    chosen, rejected = str(state.values["output"]), str(state.values["rejected"])
    same = bool(chosen.strip()) and chosen == rejected
    return [
        ResponseCheck(
            field=name,
            label=RESPONSE_LABELS[name],
            counts=_counts(text),
            verdicts=[_verdict(row, text) for row in state.constraint_rows]
            if state.constrained
            else [],
            same=same,
        )
        for name, text in (("output", chosen), ("rejected", rejected))
    ]


def _preview(content: ItemContent) -> dict[str, Any]:
    """The prompt as the model sees it; a pair's prompt, then each of its two answers, and
    each whole exchange as text."""
    if content.kind is not ItemKind.preference:
        return prompts.preview(content)
    prompt, chosen, rejected = prompts.pair_messages(content)
    return {
        "messages": prompt,
        "chosen": chosen["content"],
        "rejected": rejected["content"],
        "text": prompts.render_text([*prompt, chosen]),
        "rejected_text": prompts.render_text([*prompt, rejected]),
    }


def _valid(cid: str, params: dict) -> bool:
    try:
        registry.validate_params(cid, params)
    except ValueError:
        return False
    return True


def _first_message(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        return errors()[0]["msg"]
    return str(error)


def _verdict(row: dict[str, Any], output: str) -> dict[str, Any]:
    cid = row["id"]
    spec = registry.REGISTRY.get(cid)
    if spec is None:
        return {
            "row": row["row"],
            "id": cid,
            "label": None,
            "state": "error",
            "message": N_("Unknown constraint."),
            "args": {},
        }
    try:
        params = registry.validate_params(cid, row["params"])
    except registry.ConstraintParamsError as error:
        problem = error.errors[0] if error.errors else {"field": "", "message": str(error)}
        return {
            "row": row["row"],
            "id": cid,
            "label": spec.label,
            "state": "error",
            "message": N_("Parameter %(field)s: %(problem)s"),
            "args": {"field": problem["field"], "problem": problem["message"]},
            "percent_style": True,
        }
    verdict = registry.check(cid, output, params)
    return {
        "row": row["row"],
        "id": cid,
        "label": spec.label,
        "state": "pass" if verdict.passed else "fail",
        "message": verdict.message,
        "args": verdict.args,
    }
