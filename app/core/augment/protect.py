"""What augmentation never changes: code, placeholders, URLs, e-mail addresses, numbers, and the
words an item's constraints name.

A protected span keeps its exact text and is never replaced, swapped or deleted; words are only
inserted or removed around it. Spans are found before words, so a number inside a URL or a
placeholder is part of that span.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.core.cjk import CJK_CLASS

from .stopwords import word_list

_MEASURE_WORDS = "个首篇段行句条张本次位种点项份名件章节页字词部遍步组类层级倍岁年月日天周秒元米斤"
_URL_CHAR = r"A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%"
# Numbers: 3, 3.5, 1,000, 45%, words that hold digits (H100, 3rd, v2.0), Chinese numerals (三,
# 十五); a Chinese measure word after one stays with it (三段, 5个), or a swap could leave 一
# here and 首 there. (An English word after a number is kept by the layout: 3 paragraphs.)
NUMBER = (
    r"(?:(?<![A-Za-z0-9_])[A-Za-z_]*\d(?:[\d.,]*\d)?[A-Za-z0-9_]*[%％]?"
    "|[零〇一二三四五六七八九十百千万亿两壹贰叁肆伍陆柒捌玖拾佰仟]+)"
    f"(?:小时|分钟|公里|[{_MEASURE_WORDS}])?"
)
_SPANS = [
    r"```.*?(?:```|\Z)",  # fenced code, to the end of the text when the fence is never closed
    r"~~~.*?(?:~~~|\Z)",
    r"``[^\n]+?``",  # inline code
    r"`[^`\n]+`",
    # A URL ends on a character that cannot be trailing punctuation: "see https://x.org/a." keeps
    # its full stop outside; only ASCII, so a Chinese sentence right after it is not swallowed.
    rf"(?:https?://|ftp://|www\.)[{_URL_CHAR}]*[A-Za-z0-9/#=_~\-&%+]",
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
    r"\{\{[^{}\n]{1,100}\}\}",  # placeholders: {{name}}, {name}, [name], <name>
    r"\{[^{}\n]{1,100}\}",
    r"\[[^\[\]\n]{1,100}\]",
    r"<[^<>\n]{1,100}>",
    NUMBER,
]
PROTECTED_SPAN = re.compile("|".join(_SPANS), re.DOTALL)
_NUMBER = re.compile(NUMBER)

# English number words are kept like digits (WordNet would turn "three" into "trey"), and
# negations too: deleting or swapping one turns a rule into its opposite.
NUMBER_WORDS = word_list(
    """
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
    hundred thousand million billion trillion dozen half once twice thrice first second third
    fourth fifth sixth seventh eighth ninth tenth eleventh twelfth twentieth hundredth thousandth
    """
)
NEGATIONS = word_list("not no nor never none nothing nobody nowhere neither cannot without")
KEPT_WORDS = NUMBER_WORDS | NEGATIONS
# A Chinese word holding one of these is kept whole: 不, 不少于, 没有, 无需, 非, 别, 勿, 未, 莫.
CHINESE_NEGATIONS = frozenset("不没无非别勿未莫")

# A word of a constraint parameter: letters and digits, with inner apostrophes (don't).
_PARAM_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def constraint_words(constraints: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every word named in the constraints' parameters, lower-cased.

    ``constraints`` is an item's list of ``{"id": ..., "params": {...}}``. Every string value
    counts, and every string in a list value: keywords, forbidden words, end phrases, the first
    word, the letter, even a relation such as "at least" (an instruction that states its own
    limit should keep stating it). A phrase protects each of its words; a Chinese phrase
    written without spaces stays one word, which protects it as a substring.
    """
    words: set[str] = set()
    for constraint in constraints:
        for value in (constraint.get("params") or {}).values():
            for text in _strings(value):
                words.update(w.lower().replace("’", "'") for w in _PARAM_WORD.findall(text))
    return words


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    return []


def protected_spans(text: str, substrings: Iterable[str] = ()) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ``(start, end)`` spans to keep, ``substrings`` matched anywhere
    and case-insensitively (Chinese words have no spaces to mark where they end; other words
    are matched whole, one token at a time, by :meth:`Protected.keeps`)."""
    spans = [m.span() for m in PROTECTED_SPAN.finditer(text)]
    words = sorted({s for s in substrings if s}, key=len, reverse=True)
    if words:
        pattern = re.compile("|".join(map(re.escape, words)), re.IGNORECASE)
        spans += [m.span() for m in pattern.finditer(text)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class Protected:
    """Words to keep: ``whole`` (lower-cased) matched as whole words, ``substrings`` (those
    with CJK characters) matched anywhere."""

    whole: frozenset[str] = frozenset()
    substrings: tuple[str, ...] = ()

    @classmethod
    def of(cls, words: Iterable[str]) -> Protected:
        whole, substrings = set(), set()
        for word in words:
            if _HAS_CJK.search(word):
                substrings.add(word)
            elif word:
                whole.add(word.lower().replace("’", "'"))
        return cls(frozenset(whole), tuple(sorted(substrings)))

    def keeps(self, word: str) -> bool:
        """Whether a word is kept: a number word, a negation (don't, 不少于) or a protected word
        (a word with CJK characters only by its negation: substrings were kept before)."""
        if _HAS_CJK.search(word):
            return any(c in CHINESE_NEGATIONS for c in word)
        lowered = word.lower().replace("’", "'")
        if lowered.endswith("n't"):
            return True
        # well-known is one token; "well" or "known" alone protects it
        return any(
            part in KEPT_WORDS or part in self.whole for part in (lowered, *lowered.split("-"))
        )

    def holds(self, text: str) -> bool:
        """Whether ``text`` holds a protected substring."""
        return any(s in text for s in self.substrings)


def is_number(text: str) -> bool:
    """A number in digits or CJK numerals, or in English words (twelve, twenty-one)."""
    if _NUMBER.fullmatch(text):
        return True
    return all(part in NUMBER_WORDS for part in text.lower().split("-"))


_HAS_CJK = re.compile(f"[{CJK_CLASS}]")
