"""How long an item's texts may be (``STUDIO_MAX_*_CHARS``): every save, import row and live
check is measured here before anything else reads the text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.config import Settings, get_settings
from app.errors import TooLarge
from app.i18n import N_


@dataclass(frozen=True)
class ContentLimits:
    """The most characters an instruction, input, output (and a pair's rejected response, as
    long as an output may be), demonstration field, system prompt and conversation turn may
    hold, and the most turns a conversation may have."""

    instruction: int
    input: int
    output: int
    demo: int
    system: int
    turn: int
    turns: int

    @classmethod
    def of(cls, settings: Settings | None = None) -> ContentLimits:
        """From the app's settings; without them, the process's (as the command line has)."""
        s = settings or get_settings()
        return cls(
            instruction=s.max_instruction_chars,
            input=s.max_input_chars,
            output=s.max_output_chars,
            demo=s.max_demo_chars,
            system=s.max_system_chars,
            turn=s.max_turn_chars,
            turns=s.max_turns,
        )


TOO_LONG = {
    "instruction": N_("The instruction is longer than %(limit)s characters (it has %(count)s)."),
    "input": N_("The input is longer than %(limit)s characters (it has %(count)s)."),
    "output": N_("The output is longer than %(limit)s characters (it has %(count)s)."),
    "rejected": N_("The rejected response is longer than %(limit)s characters (it has %(count)s)."),
    "demo.input": N_(
        "The input of demonstration %(n)s is longer than %(limit)s characters (it has %(count)s)."
    ),
    "demo.output": N_(
        "The output of demonstration %(n)s is longer than %(limit)s characters (it has %(count)s)."
    ),
    "system": N_("The system prompt is longer than %(limit)s characters (it has %(count)s)."),
    "turn": N_("Turn %(n)s is longer than %(limit)s characters (it has %(count)s)."),
}
TOO_MANY_TURNS = N_("The conversation has %(count)s turns; at most %(limit)s are allowed.")


class ContentTooLong(TooLarge):
    """A text field over its limit. The message names the first such field; ``errors`` marks
    each, as an ``InvalidInput``'s does, so a form can show them in place."""

    def __init__(self, problems: list[tuple[str, str, dict[str, Any]]]) -> None:
        _field, message, params = problems[0]
        super().__init__(message, **params)
        self.errors = {field: N_("Too long.") for field, _message, _params in problems}
        self.sentences = [message % params for _field, message, params in problems]


def overlong(
    fields: Mapping[str, Any], demos: Iterable[Any], limits: ContentLimits | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """(field, message, its parameters) for each text over its limit, in the form's order,
    and for a conversation with more turns than allowed.

    ``fields`` holds the instruction, input and output, and may hold the system prompt, the
    turns and a pair's rejected response; a demonstration or a turn is a model or a dict.
    """
    limits = limits or ContentLimits.of()
    texts = [
        (name, TOO_LONG[name], getattr(limits, name), str(fields.get(name) or ""), {})
        for name in ("system", "instruction", "input", "output")
    ]
    texts.append(
        ("rejected", TOO_LONG["rejected"], limits.output, str(fields.get("rejected") or ""), {})
    )
    turns = fields.get("turns") or []
    for index, turn in enumerate(turns):
        text = str((turn.get("content") if isinstance(turn, Mapping) else turn.content) or "")
        texts.append((f"turns.{index}", TOO_LONG["turn"], limits.turn, text, {"n": index + 1}))
    for index, demo in enumerate(demos):
        for side in ("input", "output"):
            text = str((demo.get(side) if isinstance(demo, Mapping) else getattr(demo, side)) or "")
            key, message = f"demos.{index}.{side}", TOO_LONG[f"demo.{side}"]
            texts.append((key, message, limits.demo, text, {"n": index + 1}))
    problems = [
        (field, message, {**extra, "limit": f"{limit:,}", "count": f"{len(text):,}"})
        for field, message, limit, text, extra in texts
        if len(text) > limit
    ]
    if len(turns) > limits.turns:
        count = {"limit": f"{limits.turns:,}", "count": f"{len(turns):,}"}
        problems.insert(0, ("turns", TOO_MANY_TURNS, count))
    return problems
