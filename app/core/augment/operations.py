"""The four operations of EDA (Wei & Zou, 2019), on a layout's free words.

Each changes ``max(1, int(rate * n))`` words of the ``n`` free ones (random deletion instead
drops each with probability ``rate``, at least one, never all), draws only from ``rng`` and
sorts whatever it chooses from, so a seed gives the same result in every process. When nothing
can change (no word with a synonym, fewer than two words), the layout is left as it was.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from app.core.constraints.base import N_

from .languages import Language
from .layout import Layout
from .protect import Protected

Run = Callable[[Layout, random.Random, float, Language, Protected], None]


def changes(rate: float, words: int) -> int:
    """How many words an operation changes: EDA's ``max(1, int(alpha * n))``."""
    return max(1, int(rate * words))


def _with_options(
    layout: Layout, language: Language, protected: Protected
) -> dict[str, tuple[list[str], list[int]]]:
    """Free words (lower-cased) that have synonyms → their synonyms and where they stand."""
    found: dict[str, tuple[list[str], list[int]]] = {}
    for i in layout.free():
        key = layout.units[i].text.lower()
        if key not in found:
            found[key] = (language.options(key, protected), [])
        found[key][1].append(i)
    return {key: value for key, value in sorted(found.items()) if value[0]}


def synonym_replacement(
    layout: Layout, rng: random.Random, rate: float, language: Language, protected: Protected
) -> None:
    """Replace up to n distinct words, each everywhere it occurs, by one of its synonyms."""
    candidates = _with_options(layout, language, protected)
    words = list(candidates)
    rng.shuffle(words)
    for word in words[: changes(rate, len(layout.free()))]:
        options, places = candidates[word]
        synonym = rng.choice(options)
        for i in places:
            layout.units[i].text = match_case(layout.units[i].text, synonym)


def random_insertion(
    layout: Layout, rng: random.Random, rate: float, language: Language, protected: Protected
) -> None:
    """n times: a synonym of a random word that has one, put before or after a random word."""
    candidates = _with_options(layout, language, protected)
    if not candidates:
        return
    words = list(candidates)
    for _ in range(changes(rate, len(layout.free()))):
        synonym = rng.choice(candidates[rng.choice(words)][0])
        # Beside a free word only, so an insertion never lands inside a protected run.
        positions = sorted({p for i in layout.free() for p in (i, i + 1)})
        layout.insert(rng.choice(positions), synonym)


def random_swap(
    layout: Layout, rng: random.Random, rate: float, language: Language, protected: Protected
) -> None:
    """n times: exchange two free words that differ (the gaps stay where they were)."""
    free = layout.free()
    if len(free) < 2:
        return
    for _ in range(changes(rate, len(free))):
        first = rng.choice(free)
        others = [i for i in free if layout.units[i].text != layout.units[first].text]
        if not others:
            return
        second = rng.choice(others)
        units = layout.units
        units[first].text, units[second].text = units[second].text, units[first].text


def random_deletion(
    layout: Layout, rng: random.Random, rate: float, language: Language, protected: Protected
) -> None:
    """Drop each free word with probability ``rate``: at least one, never every one.

    A word goes with a blank gap beside it (see ``Layout.removable_gap``); one that sits
    between punctuation on both sides stays.
    """
    free = layout.free()
    if len(free) < 2:
        return
    chosen = [i for i in free if rng.random() < rate]
    if len(chosen) == len(free):
        chosen.remove(rng.choice(chosen))
    deleted = sum(layout.delete(i) for i in reversed(chosen))  # from the end: indices hold
    if not deleted:
        deletable = [i for i in layout.free() if layout.removable_gap(i) is not None]
        if deletable:
            layout.delete(rng.choice(deletable))


def match_case(original: str, word: str) -> str:
    """``word`` in the case of the word it replaces: Write → Compose, HTML → XML."""
    if len(original) > 1 and original.isupper():
        return word.upper()
    if original[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


@dataclass(frozen=True)
class Operation:
    id: str
    label: str  # marked with N_; the UI translates it
    run: Run


OPERATIONS: dict[str, Operation] = {
    op.id: op
    for op in (
        Operation("synonym_replacement", N_("Synonym replacement"), synonym_replacement),
        Operation("random_insertion", N_("Random insertion"), random_insertion),
        Operation("random_swap", N_("Random swap"), random_swap),
        Operation("random_deletion", N_("Random deletion"), random_deletion),
    )
}
