"""Text metrics for evaluation (design §5): exact match, token P/R/F1 and ROUGE-L.

Normalisation follows SQuAD's evaluation script (lowercase, drop punctuation, drop English
articles, collapse whitespace), widened to Unicode punctuation so that ``，`` and ``。`` go too.
Tokens are the words of ``app.core.cjk.split_words``: each CJK character is one token, so a
Chinese answer scores character by character instead of as one giant "word".
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

from app.core.cjk import split_words

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)


def _is_punctuation(char: str) -> bool:
    # SQuAD drops ASCII symbols such as "$" and "+" too, which Unicode files under S*, not P*.
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, no punctuation, no a/an/the, single spaces."""
    text = "".join(char for char in text.lower() if not _is_punctuation(char))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Normalised tokens; each CJK character is a token of its own."""
    return split_words(normalize_answer(text))


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalised tokens agree, else 0.0.

    Tokens rather than normalised strings are compared so that "你好 世界" matches "你好世界":
    spaces between CJK characters carry no meaning.
    """
    return float(tokens(prediction) == tokens(reference))


def _f_measure(precision: float, recall: float) -> float:
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def token_prf(prediction: str, reference: str) -> tuple[float, float, float]:
    """SQuAD token precision, recall and F1 over the bag of normalised tokens."""
    predicted, expected = tokens(prediction), tokens(reference)
    if not predicted and not expected:
        return 1.0, 1.0, 1.0
    overlap = sum((Counter(predicted) & Counter(expected)).values())
    if overlap == 0:  # also covers exactly one side being empty
        return 0.0, 0.0, 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return precision, recall, _f_measure(precision, recall)


def lcs_length(first: list[str], second: list[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, one row kept)."""
    if len(second) > len(first):
        first, second = second, first
    previous = [0] * (len(second) + 1)
    for item in first:
        current = [0]
        for column, other in enumerate(second, start=1):
            if item == other:
                current.append(previous[column - 1] + 1)
            else:
                current.append(max(previous[column], current[column - 1]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (beta = 1): P = LCS/|prediction|, R = LCS/|reference|."""
    predicted, expected = tokens(prediction), tokens(reference)
    if not predicted and not expected:
        return 1.0
    common = lcs_length(predicted, expected)
    if common == 0:
        return 0.0
    return _f_measure(common / len(predicted), common / len(expected))


def text_scores(prediction: str, reference: str) -> dict[str, float]:
    """Every metric of this module for one prediction, as ``aggregate`` expects them."""
    precision, recall, f1 = token_prf(prediction, reference)
    return {
        "exact_match": exact_match(prediction, reference),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "rouge_l": rouge_l(prediction, reference),
    }


def aggregate(scores: list[dict[str, float | None]]) -> dict[str, float]:
    """The mean of each key over the dicts that have it (None values are skipped)."""
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for row in scores:
        for key, value in row.items():
            if value is None:
                continue
            totals[key] = totals.get(key, 0.0) + float(value)
            counts[key] = counts.get(key, 0) + 1
    return {key: totals[key] / counts[key] for key in totals}
