"""Statistics of preference pairs, reported apart from the supervised items: how many (by split
or status), the length of the chosen and the rejected responses, and how often the chosen one is
longer. A known bias of preference data is that the chosen answer is simply the longer one; a
model trained on such pairs can learn length instead of quality."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import fmean, median
from typing import Any

from app.core.cjk import count_words
from app.core.kinds import ItemKind

PREFERENCE = ItemKind.preference.value
SIDES = ("chosen", "rejected")
# Words of the chosen response minus the rejected one's: each bin from its lower bound up to the
# next one's; the first and the last bins are open.
DIFFERENCE_BOUNDS = (-50, -20, -5, 6, 21, 51)


def is_pair(snap: dict[str, Any]) -> bool:
    return snap.get("kind") == PREFERENCE


def responses(snap: dict[str, Any]) -> tuple[str, str]:
    """A pair's chosen and rejected response."""
    return snap.get("output") or "", snap.get("rejected") or ""


def pair_figures(
    pairs: Sequence[tuple[str, dict[str, Any], Any]],
    tokens: Sequence[int] | None,
    length_bins,
) -> dict[str, Any]:
    """The figures of ``pairs`` ((split or status, snapshot, author) rows); ``tokens`` are the
    model tokens of each pair's chosen then rejected response (None without a tokenizer);
    ``length_bins`` bin the response lengths (``statistics.LENGTH``).

    Lists keep their order where a JSON object would not (PostgreSQL orders an object's keys).
    """
    if not pairs:
        return {"total": 0}
    words = {side: [count_words(responses(snap)[at]) for _s, snap, _a in pairs]
             for at, side in enumerate(SIDES)}  # fmt: skip
    differences = [c - r for c, r in zip(words["chosen"], words["rejected"], strict=True)]
    longer = sum(1 for d in differences if d > 0)
    shorter = sum(1 for d in differences if d < 0)
    figures: dict[str, Any] = {
        "total": len(pairs),
        "splits": [[s, n] for s, n in Counter(s for s, _snap, _a in pairs).most_common()],
        "words": {side: _centre(values) for side, values in words.items()},
        "tokens": {},
        "chosen_longer": longer,
        "rejected_longer": shorter,
        "same_length": len(pairs) - longer - shorter,
        "chosen_longer_share": round(longer / len(pairs), 3),
        "length_hist": {side: length_bins.histogram(Counter(v)) for side, v in words.items()},
        "difference": difference_histogram(differences),
    }
    if tokens is not None:
        by_side = {"chosen": tokens[0::2], "rejected": tokens[1::2]}
        figures["tokens"] = {side: _centre(values) for side, values in by_side.items()}
    return figures


def token_texts(pairs: Sequence[tuple[str, dict[str, Any], Any]]) -> list[str]:
    """What the tokenizer encodes for ``pairs``: each pair's chosen, then its rejected response."""
    return [text for _split, snap, _author in pairs for text in responses(snap)]


def difference_histogram(differences: Sequence[int]) -> list[list[Any]]:
    """[label, pairs] for each bin of the word difference, every bin in order."""
    counts = Counter(_bin(d) for d in differences)
    return [[label, counts.get(index, 0)] for index, label in enumerate(_LABELS)]


def _bin(difference: int) -> int:
    return sum(1 for bound in DIFFERENCE_BOUNDS if difference >= bound)


def _signed(value: int) -> str:
    return f"−{-value}" if value < 0 else str(value)  # a minus sign, not a hyphen


_LABELS = [
    f"≤ {_signed(DIFFERENCE_BOUNDS[0] - 1)}",
    *(
        f"{_signed(low)} … {_signed(high - 1)}"
        for low, high in zip(DIFFERENCE_BOUNDS, DIFFERENCE_BOUNDS[1:], strict=False)
    ),  # fmt: skip
    f"≥ {_signed(DIFFERENCE_BOUNDS[-1])}",
]


def _centre(values: Sequence[int]) -> dict[str, float]:
    return {"mean": round(fmean(values), 1), "median": median(values)}
