"""Search words for benchmarks: picked from an Alpaca JSONL file so that each is in about a
given share of its rows (e.g. 0.1%, 1%, 5%, 20%), and counted the way a substring search
counts them. ``bench/labelstudio.py`` uses them (and re-exports them) so that Label Studio and
ours are searched for the same words on the same rows.

A helper of the benchmarks, not one itself: ``make bench`` leaves it out.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.cjk import CJK_CLASS  # noqa: E402

FIELDS = ("instruction", "input", "output")
DEFAULT_TARGETS = {"0.1%": 0.001, "1%": 0.01, "5%": 0.05, "20%": 0.2}
# A whole English word is preferred when its share is within this factor of the target.
WORD_TOLERANCE = 1.5
_CJK_RUN = re.compile(f"[{CJK_CLASS}]+")
_WORD = re.compile(r"\w+")
_ENGLISH = re.compile(r"[a-z]{3,}")


def read_rows(rows_path: Path) -> list[dict[str, str]]:
    """The file's rows, each reduced to the three fields (missing ones empty)."""
    with rows_path.open(encoding="utf-8") as f:
        return [{k: str(row.get(k) or "") for k in FIELDS} for row in map(json.loads, f)]


def _contains(rows: list[tuple[str, ...]], word: str) -> int:
    """Rows with ``word`` in one of their (lowercased) fields: what LS's ``icontains`` finds on
    SQLite (LIKE folds ASCII case only, and these words are ASCII or CJK)."""
    word = word.lower()
    return sum(any(word in field for field in fields) for fields in rows)


def _lowered(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return [tuple(row[k].lower() for k in FIELDS) for row in rows]


def count_containing(rows: list[dict[str, str]], words: Mapping[str, str]) -> dict[str, int]:
    """label -> rows whose instruction, input or output contains the word (case aside)."""
    lowered = _lowered(rows)
    return {label: _contains(lowered, word) for label, word in words.items()}


def word_counts(rows_path: Path, words: Mapping[str, str]) -> dict[str, int]:
    """label -> rows of the file whose instruction, input or output contains the word."""
    return count_containing(read_rows(rows_path), words)


def pick_words(
    rows_path: Path, targets: Mapping[str, float] | Sequence[float] = DEFAULT_TARGETS
) -> dict[str, str]:
    """label -> one search word found in about that share of the file's rows.

    A whole English word (3+ letters) is preferred: one that never occurs inside a longer word
    of the file, so that a substring search (LS) and a word search (ours: lowercased ``\\w+``
    terms) find the same rows; the one nearest the target on a log scale, if within
    ``WORD_TOLERANCE``. Otherwise (e.g. no English word is that rare) the nearest two-character
    CJK string, which both find as a substring (ours through its character-bigram index).
    ``targets`` is label -> share, or shares (labelled like "0.1%")."""
    if not isinstance(targets, Mapping):
        targets = {f"{share * 100:g}%": share for share in targets}
    rows = _lowered(read_rows(rows_path))
    n = len(rows)
    whole: Counter[str] = Counter()
    for fields in rows:
        text = _CJK_RUN.sub(" ", "\n".join(fields))
        whole.update({w for w in _WORD.findall(text) if _ENGLISH.fullmatch(w)})
    bigrams: Counter[str] | None = None
    chosen: dict[str, str] = {}
    for label, share in targets.items():
        goal = max(share * n, 1.0)

        def distance(count: int, goal: float = goal) -> float:
            return abs(math.log(count / goal))

        taken = set(chosen.values())
        pick = None
        for word, count in sorted(whole.items(), key=lambda wc: (distance(wc[1]), wc[0])):
            if distance(count) > math.log(WORD_TOLERANCE):
                break
            if word not in taken and _contains(rows, word) == count:
                pick = word
                break
        if pick is None:
            if bigrams is None:
                bigrams = _cjk_bigram_counts(rows)
            ranked = sorted(
                (b for b in bigrams.items() if b[0] not in taken),
                key=lambda bc: (distance(bc[1]), bc[0]),
            )
            if not ranked:
                raise ValueError(f"no word of {rows_path} comes near {label} of its rows")
            pick = ranked[0][0]
        chosen[label] = pick
    return chosen


def _cjk_bigram_counts(rows: list[tuple[str, ...]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for fields in rows:
        found = set()
        for field in fields:
            for run in _CJK_RUN.findall(field):
                found.update(map(str.__add__, run, run[1:]))
        counts.update(found)
    return counts
