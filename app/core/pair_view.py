"""A preference pair as the pages show it: the prompt's messages, then its chosen and its
rejected response side by side, each with its own constraint verdicts (a pair's constraints
hold for both of its responses, so a reviewer sees where the rejected one falls short).

The review, labeling and history pages read every item and revision through
:func:`pair_view`, which answers None for any other kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.core import constraints as registry
from app.core.kinds import ConstraintRef, ItemContent, ItemKind
from app.core.prompts import Message, pair_messages


@dataclass(frozen=True)
class PairView:
    prompt: list[Message]
    chosen: str
    rejected: str
    chosen_verdicts: list[dict[str, Any]]
    rejected_verdicts: list[dict[str, Any]]
    # Its prompt is a conversation's earlier turns: the pages number them.
    numbered: bool


def pair_view(source: Any) -> PairView | None:
    """The pair an ``Item``, a revision snapshot or an ``ItemContent`` holds; None when it
    holds another kind."""
    kind = source.get("kind") if isinstance(source, Mapping) else getattr(source, "kind", None)
    if kind != ItemKind.preference:
        return None
    content = source if isinstance(source, ItemContent) else ItemContent.from_row(source)
    prompt, chosen, rejected = pair_messages(content)
    return PairView(
        prompt=prompt,
        chosen=chosen["content"],
        rejected=rejected["content"],
        chosen_verdicts=response_verdicts(content.constraints, content.output),
        rejected_verdicts=response_verdicts(content.constraints, content.rejected),
        numbered=bool(content.turns),
    )


def response_verdicts(constraints: Iterable[Any], response: str) -> list[dict[str, Any]]:
    """Each constraint (a ``ConstraintRef`` or the dict stored for one) checked on
    ``response``, as the review, labeling and history pages show them."""
    verdicts = []
    for ref in constraints:
        if isinstance(ref, Mapping):
            ref = ConstraintRef.model_validate({"params": {}, **ref})
        spec = registry.REGISTRY.get(ref.id)
        verdict = registry.check(ref.id, response, ref.params)
        verdicts.append(
            {
                "id": ref.id,
                "label": spec.label if spec else None,
                "state": "pass" if verdict.passed else "fail",
                "message": verdict.message,
                "args": verdict.args,
            }
        )
    return verdicts
