"""An editor's or API client's draft checked into item content: lengths first, then the content
model and each constraint's parameters, every error keyed by the field (or turn) it is about."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from app.core import constraints as registry
from app.core.kinds import ItemContent, ItemKind, error_turn
from app.core.langid import detect_language
from app.errors import InvalidInput
from app.i18n import N_
from app.items.lengths import ContentLimits, ContentTooLong, overlong
from app.items.schemas import ItemDraft


def language_of(draft: ItemDraft) -> str:
    """The language the annotator chose, or the one detected in the text."""
    texts = [turn.content for turn in draft.turns] or [draft.instruction, draft.input, draft.output]
    return draft.language or detect_language("\n".join(texts))


def _field_of(problem: dict[str, Any], conversation: bool) -> str:
    """Where a form shows a content error: the turn it names, else its field; a rule over a
    whole conversation's turns belongs to ``turns``."""
    turn = error_turn(problem)
    if turn is not None:
        return f"turns.{turn}"
    field = ".".join(str(p) for p in problem["loc"])
    if conversation and not field:
        return "turns"
    return field or "instruction"


def validate_content(
    draft: ItemDraft, *, for_submit: bool, limits: ContentLimits | None = None
) -> ItemContent:
    """Check the lengths first (nothing reads an over-long text), then the content and every
    constraint's parameters; errors name the field."""
    too_long = overlong(draft.content_values(), draft.demos, limits)
    if too_long:
        raise ContentTooLong(too_long)
    errors: dict[str, str] = {}
    constraints = []
    for index, ref in enumerate(draft.constraints):
        try:
            params = registry.validate_params(ref.id, ref.params)
            constraints.append({"id": ref.id, "params": params})
        except registry.UnknownConstraintError:
            errors[f"constraints.{index}"] = N_("Unknown constraint.")
        except registry.ConstraintParamsError as error:
            for problem in error.errors:
                errors[f"constraints.{index}.{problem['field']}"] = problem["message"]
    language = language_of(draft)
    content = None
    try:
        content = ItemContent.model_validate(
            draft.content_values()
            | {
                "constraints": constraints,
                "rules": [r.strip() for r in draft.rules if r.strip()],
                "language": language,
            }
        )
    except ValidationError as error:
        conversation = draft.kind is ItemKind.conversation
        for problem in error.errors():
            errors.setdefault(_field_of(problem, conversation), problem["msg"])
    if for_submit:
        errors.update({k: v for k, v in _unwritten(draft, content).items() if k not in errors})
    if errors or content is None:
        raise InvalidInput(N_("Please fix the highlighted fields."), errors=errors)
    return content


def _unwritten(draft: ItemDraft, content: ItemContent | None) -> dict[str, str]:
    """The responses a submitted item must have: its output (a conversation's last assistant
    turn), and a pair's chosen and rejected responses."""
    missing = {}
    if draft.kind is ItemKind.preference:
        if not draft.output.strip():
            missing["output"] = N_("Write the chosen response before submitting.")
        if not draft.rejected.strip():
            missing["rejected"] = N_("Write the rejected response before submitting.")
    elif not (content.output if content else draft.output).strip():
        if draft.turns:
            last = f"turns.{len(draft.turns) - 1}"
            missing[last] = N_("Write the last assistant turn before submitting.")
        else:
            missing["output"] = N_("Write the output before submitting.")
    return missing
