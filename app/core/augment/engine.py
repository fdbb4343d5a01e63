"""``augment``: one text, one operation, one seed → one new text."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from app.core.constraints.base import N_

from . import languages
from .errors import AugmentError
from .layout import build
from .operations import OPERATIONS
from .protect import Protected

DEFAULT_RATE = 0.1
UNKNOWN_OPERATION = N_("There is no augmentation called %(operation)s.")
BAD_RATE = N_("The share of words to change must be above 0 and at most 1; it is %(rate)s.")


def augment(
    text: str,
    *,
    language: str,
    operation: str,
    seed: int,
    rate: float = DEFAULT_RATE,
    protected_words: Iterable[str] = frozenset(),
) -> str:
    """``text`` with one EDA operation applied to its unprotected words.

    ``language`` is the item's code (``en`` or ``zh``); ``operation`` a key of ``OPERATIONS``;
    ``rate`` EDA's alpha, the share of words changed (at least one); ``protected_words`` words
    to keep, such as :func:`constraint_words` of the item's constraints (matched whole and
    case-insensitively, or as substrings when they hold CJK characters). Code, placeholders,
    URLs, e-mail addresses and numbers are always kept (see ``protect``).

    The same arguments give the same text in every process (``random.Random(seed)``, never the
    global generator). When nothing can change (no word has a synonym, too few words) the text
    comes back unchanged: the caller compares to tell. ``AugmentError`` for an unknown
    operation, a rate outside (0, 1], an unsupported language or a lexicon not installed.
    """
    spec = OPERATIONS.get(operation)
    if spec is None:
        raise AugmentError(UNKNOWN_OPERATION, operation=operation)
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and 0 < rate <= 1):
        raise AugmentError(BAD_RATE, rate=rate)
    lang = languages.get(language)
    protected = Protected.of(protected_words)
    layout = build(text, joiner=lang.joiner, protected=protected, segment=lang.segment)
    spec.run(layout, random.Random(seed), rate, lang, protected)
    return layout.render()
