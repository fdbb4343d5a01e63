"""The new-round form: its fields as typed, into a RoundInput, with a message per bad field.

The same parser reads the posted form and the query string of the live prompt count, so the
count always describes the round that submitting the form would create.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.errors import InvalidInput
from app.evaluation.rounds import MAX_OVERLAP, MAX_PROMPTS, RoundInput
from app.evaluation.systems import System
from app.i18n import N_

TEXT_FIELDS = ("name", "a", "b", "mode", "overlap", "judges", "kind", "language", "domain")
MESSAGES = {
    "int_parsing": N_("Enter a whole number."),
    "int_from_float": N_("Enter a whole number."),
    "greater_than_equal": N_("Too small."),
    "less_than_equal": N_("Too large."),
    "literal_error": N_("Choose one of the options."),
    "missing": N_("Required."),
    "string_too_short": N_("Required."),
    "string_too_long": N_("Too long."),
    "too_long": N_("Too many."),
}
BOUNDS = {"overlap": (1, MAX_OVERLAP), "limit": (1, MAX_PROMPTS)}


@dataclass
class RoundForm:
    values: dict[str, str] = field(default_factory=dict)
    limit: str = ""
    judge_ids: list[int] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def blank(job_id: int | None, known: set[str], *, name: str = "") -> RoundForm:
    """The form's starting values; from a job's page, its tuned outputs against its base."""
    values = dict.fromkeys(TEXT_FIELDS, "")
    values.update(mode="pairwise", overlap="1", judges="reviewers")
    tuned, base = f"{job_id}:tuned", f"{job_id}:base"
    if job_id is not None and {tuned, base} <= known:
        values.update(a=tuned, b=base, name=name)
    return RoundForm(values=values)


def _multi(data: Mapping[str, Any], name: str) -> list[str]:
    getlist = getattr(data, "getlist", None)
    return [str(v) for v in getlist(name)] if getlist else []


def parse(
    data: Mapping[str, Any], *, need_name: bool = True
) -> tuple[RoundForm, RoundInput | None]:
    """Typed input, or the values as typed with a message per bad field. ``need_name`` is
    False for the prompt count, which does not care what the round will be called."""
    form = RoundForm(
        values={name: str(data.get(name) or "").strip() for name in TEXT_FIELDS},
        limit=str(data.get("limit") or "").strip(),
    )
    raw_ids = _multi(data, "judge_ids")
    form.judge_ids = [int(i) for i in raw_ids if i.isdigit() and len(i) < 10]
    if len(form.judge_ids) != len(raw_ids):
        form.errors["judge_ids"] = N_("Choose people from the list.")
    for side in ("a", "b"):
        try:
            System.parse(form.values[side])
        except InvalidInput:
            form.errors[side] = N_("Choose a system.")
    fields: dict[str, Any] = {k: v for k, v in form.values.items() if v}
    if not need_name:
        fields.setdefault("name", "-")
    fields["judge_ids"] = form.judge_ids
    if form.limit:
        fields["limit"] = form.limit
    try:
        data_in = RoundInput(**fields)
    except ValidationError as error:
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "name"
            form.errors.setdefault(name, MESSAGES.get(problem["type"], N_("Invalid.")))
        return form, None
    if form.errors:
        return form, None
    return form, data_in


def take_errors(form: RoundForm, error: InvalidInput) -> None:
    """A service's refusal, on the fields it names (a system the service could not use
    is shown on both system fields)."""
    for name, message in (error.errors or {}).items():
        if name == "system":
            form.errors.setdefault("a", message)
            form.errors.setdefault("b", message)
        else:
            form.errors.setdefault(name, message)
