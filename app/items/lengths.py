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
    """The most characters an instruction, input, output and demonstration field may hold."""

    instruction: int
    input: int
    output: int
    demo: int

    @classmethod
    def of(cls, settings: Settings | None = None) -> ContentLimits:
        """From the app's settings; without them, the process's (as the command line has)."""
        s = settings or get_settings()
        return cls(s.max_instruction_chars, s.max_input_chars, s.max_output_chars, s.max_demo_chars)


TOO_LONG = {
    "instruction": N_("The instruction is longer than %(limit)s characters (it has %(count)s)."),
    "input": N_("The input is longer than %(limit)s characters (it has %(count)s)."),
    "output": N_("The output is longer than %(limit)s characters (it has %(count)s)."),
    "demo.input": N_(
        "The input of demonstration %(n)s is longer than %(limit)s characters (it has %(count)s)."
    ),
    "demo.output": N_(
        "The output of demonstration %(n)s is longer than %(limit)s characters (it has %(count)s)."
    ),
}


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
    """(field, message, its parameters) for each text over its limit, in the form's order.

    ``fields`` holds the instruction, input and output; a demonstration is a ``Demo`` or a dict.
    """
    limits = limits or ContentLimits.of()
    texts = [
        (name, TOO_LONG[name], getattr(limits, name), str(fields.get(name) or ""), {})
        for name in ("instruction", "input", "output")
    ]
    for index, demo in enumerate(demos):
        for side in ("input", "output"):
            text = str((demo.get(side) if isinstance(demo, Mapping) else getattr(demo, side)) or "")
            key, message = f"demos.{index}.{side}", TOO_LONG[f"demo.{side}"]
            texts.append((key, message, limits.demo, text, {"n": index + 1}))
    return [
        (field, message, {**extra, "limit": f"{limit:,}", "count": f"{len(text):,}"})
        for field, message, limit, text, extra in texts
        if len(text) > limit
    ]
