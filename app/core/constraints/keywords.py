"""``keywords:*``: keywords present, a keyword's frequency, forbidden words, a letter's frequency.

Verdicts follow IFEval's ``instructions.py`` (google-research, Apache-2.0), quirks included:
``existence`` and ``frequency`` match case-insensitive substrings (``award`` counts for ``war``),
``forbidden_words`` matches whole words with ``\\b``, ``letter_frequency`` counts one character
case-insensitively. Keywords are matched literally; IFEval passes them to ``re`` unescaped, which
only differs for keywords holding regex syntax such as ``C++``.

In text with CJK characters a word next to a CJK character still counts as a whole word, and a
CJK forbidden word matches anywhere (Chinese has no spaces between words).

The searches run in time linear in the response whatever the keywords: see :func:`folding`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from app.core.cjk import CJK_CHAR, CJK_CLASS, has_cjk

from .base import (
    N_,
    ConstraintSpec,
    Count,
    Params,
    Relation,
    Verdict,
    by_relation,
    compare,
    count_field,
    ngettext,
    quoted,
    rel,
)

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
KeywordList = Annotated[list[Keyword], Field(min_length=1, max_length=50)]


class Existence(Params):
    keywords: KeywordList

    @field_validator("keywords")
    @classmethod
    def _sorted(cls, value: list[str]) -> list[str]:
        return sorted(value)  # IFEval sorts them


class Frequency(Params):
    keyword: Keyword
    frequency: Count = count_field(10_000)
    relation: Relation


class ForbiddenWords(Params):
    forbidden_words: KeywordList

    @field_validator("forbidden_words")
    @classmethod
    def _unique_sorted(cls, value: list[str]) -> list[str]:
        return sorted(set(value))  # IFEval: sorted(list(set(...)))


class LetterFrequency(Params):
    letter: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1)]
    let_frequency: Count = count_field(100_000)
    let_relation: Relation

    @field_validator("letter")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


# --- case-insensitive search in linear time ---------------------------------------------------
#
# re.IGNORECASE compares a cased character of a pattern by sre's simple lowercase, widened to the
# few lowercase letters that share an uppercase (ı and i, ſ and s…), and an uncased one exactly
# (re/_compiler.py, re/_casefix.py). sre has no fast search for such a literal: on "aaaa…" a
# keyword of 200 characters costs up to 200 steps at every position, and 50 of them took half a
# minute on 100,000 characters. Folding the response and the keywords the same way lets str.find
# and case-sensitive patterns, which sre searches by the literal's prefix, give the same answers.
try:
    from _sre import unicode_iscased, unicode_tolower
    from re._casefix import _EXTRA_CASES
except ImportError:  # another Python: the regular expressions answer, slower on long keywords
    _EXTRA_CASES = None
else:  # each widening must be a class of its own, or folding to its least member would merge
    if any(
        {key, *others} != {other, *_EXTRA_CASES.get(other, ())}
        for key, others in _EXTRA_CASES.items()
        for other in others
    ):
        _EXTRA_CASES = None

_WORD = re.compile(r"\w")


def _fold(code: int) -> int:
    lower = unicode_tolower(code) if unicode_iscased(code) else code
    return min((lower, *_EXTRA_CASES.get(lower, ())))


def _kind(char: str) -> tuple[bool, bool]:
    return _WORD.match(char) is not None, CJK_CHAR.match(char) is not None


def folding(response: str, words: Iterable[str]) -> dict[int, str] | None:
    """A ``str.translate`` table under which the words' characters equal the response's exactly
    when ``re.IGNORECASE`` matches them, and word boundaries stay where they are; None when that
    cannot be promised (then the regular expressions answer).

    An uncased character of a word is compared exactly by sre, so no other character may fold
    onto it; a folded character keeps its kind (word character or not, CJK or not).
    """
    if _EXTRA_CASES is None:
        return None
    word_chars = set("".join(words))
    table: dict[int, str] = {}
    for char in set(response) | word_chars:
        folded = chr(_fold(ord(char)))
        if folded != char:
            if _kind(folded) != _kind(char):
                return None
            table[ord(char)] = folded
    merged = set(table.values())
    for char in word_chars:
        if not unicode_iscased(ord(char)) and (ord(char) in table or char in merged):
            return None
    return table


def _contains(keyword: str, response: str, table: dict[int, str] | None) -> bool:
    if table is None:
        return re.search(re.escape(keyword), response, flags=re.IGNORECASE) is not None
    return keyword.translate(table) in response


def check_existence(response: str, *, keywords: list[str]) -> Verdict:
    table = folding(response, keywords)
    folded = response if table is None else response.translate(table)
    missing = [kw for kw in keywords if not _contains(kw, folded, table)]
    if missing:
        return Verdict(
            False, N_("Missing keywords: {missing}."), {"missing": quoted(missing, "en")}
        )
    return Verdict(
        True, N_("All keywords found: {keywords}."), {"keywords": quoted(keywords, "en")}
    )


def check_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> Verdict:
    table = folding(response, [keyword])
    if table is None:
        count = len(re.findall(re.escape(keyword), response, flags=re.IGNORECASE))
    else:  # non-overlapping, leftmost first, as findall counts a literal
        count = response.translate(table).count(keyword.translate(table))
    message = by_relation(
        relation,
        ngettext(
            '"{keyword}" appears {count} time; needs fewer than {limit}.',
            '"{keyword}" appears {count} times; needs fewer than {limit}.',
        ),
        ngettext(
            '"{keyword}" appears {count} time; needs at least {limit}.',
            '"{keyword}" appears {count} times; needs at least {limit}.',
        ),
    )
    return Verdict(
        compare(count, relation, frequency),
        message,
        {"keyword": keyword, "count": count, "limit": frequency},
    )


_NON_CJK_WORD = rf"[^\W{CJK_CLASS}]"


def _whole_word(word: str, response: str, in_cjk: bool) -> bool:
    """IFEval's whole-word match (``in_cjk``: the response has CJK characters)."""
    if not (has_cjk(word) or in_cjk):
        pattern = r"\b" + re.escape(word) + r"\b"  # IFEval
    elif has_cjk(word):
        pattern = re.escape(word)
    else:
        pattern = rf"(?<!{_NON_CJK_WORD}){re.escape(word)}(?!{_NON_CJK_WORD})"
    return re.search(pattern, response, flags=re.IGNORECASE) is not None


def _whole_folded_word(word: str, folded: str, in_cjk: bool) -> bool:
    """:func:`_whole_word` on a response and a word folded by :func:`folding`.

    The literal comes first, so that sre finds it by its prefix in linear time; then the
    boundaries after and before it. The one before is a lookbehind over the character before
    and the literal's length in any characters, which sre skips in one step.
    """
    if has_cjk(word):
        return word in folded
    skip = f"(?s:.){{{len(word)}}}"
    if not in_cjk:  # \b on both sides
        before = rf"(?<!\w{skip})" if _WORD.match(word[0]) else rf"(?<=\w{skip})"
        after = r"(?!\w)" if _WORD.match(word[-1]) else r"(?=\w)"
    else:
        before, after = rf"(?<!{_NON_CJK_WORD}{skip})", rf"(?!{_NON_CJK_WORD})"
    return re.search(re.escape(word) + after + before, folded) is not None


def check_forbidden_words(response: str, *, forbidden_words: list[str]) -> Verdict:
    in_cjk = has_cjk(response)
    table = folding(response, forbidden_words)
    if table is None:
        found = [word for word in forbidden_words if _whole_word(word, response, in_cjk)]
    else:
        folded = response.translate(table)
        found = [
            word
            for word in forbidden_words
            if _whole_folded_word(word.translate(table), folded, in_cjk)
        ]
    if found:
        return Verdict(False, N_("Forbidden words found: {found}."), {"found": quoted(found, "en")})
    return Verdict(True, N_("No forbidden words found."), {})


def check_letter_frequency(
    response: str, *, letter: str, let_frequency: int, let_relation: str
) -> Verdict:
    count = response.lower().count(letter)
    message = by_relation(
        let_relation,
        ngettext(
            'The letter "{letter}" appears {count} time; needs fewer than {limit}.',
            'The letter "{letter}" appears {count} times; needs fewer than {limit}.',
        ),
        ngettext(
            'The letter "{letter}" appears {count} time; needs at least {limit}.',
            'The letter "{letter}" appears {count} times; needs at least {limit}.',
        ),
    )
    return Verdict(
        compare(count, let_relation, let_frequency),
        message,
        {"letter": letter, "count": count, "limit": let_frequency},
    )


def _render_existence(params: dict, lang: str) -> str:
    words = quoted(params["keywords"], lang)
    if lang == "zh":
        return f"回答中应包含关键词{words}。"
    noun = "keyword" if len(params["keywords"]) == 1 else "keywords"
    return f"Include {noun} {words} in the response."


def _render_frequency(params: dict, lang: str) -> str:
    word, n, relation = params["keyword"], params["frequency"], params["relation"]
    if lang == "zh":
        return f"在回答中，词语“{word}”应出现{rel(relation, lang)} {n} 次。"
    return f'In your response, the word "{word}" should appear {relation} {n} times.'


def _render_forbidden(params: dict, lang: str) -> str:
    words = quoted(params["forbidden_words"], lang)
    if lang == "zh":
        return f"回答中不得包含关键词{words}。"
    noun = "keyword" if len(params["forbidden_words"]) == 1 else "keywords"
    return f"Do not include {noun} {words} in the response."


def _render_letter(params: dict, lang: str) -> str:
    letter, n, relation = params["letter"], params["let_frequency"], params["let_relation"]
    if lang == "zh":
        return f"在回答中，字母“{letter}”应出现{rel(relation, lang)} {n} 次。"
    return f'In your response, the letter "{letter}" should appear {relation} {n} times.'


SPECS = [
    ConstraintSpec(
        "keywords:existence",
        {"en": "Include keywords", "zh": "包含关键词"},
        Existence,
        check_existence,
        _render_existence,
    ),
    ConstraintSpec(
        "keywords:frequency",
        {"en": "Keyword frequency", "zh": "关键词出现次数"},
        Frequency,
        check_frequency,
        _render_frequency,
    ),
    ConstraintSpec(
        "keywords:forbidden_words",
        {"en": "Forbidden words", "zh": "禁用词"},
        ForbiddenWords,
        check_forbidden_words,
        _render_forbidden,
    ),
    ConstraintSpec(
        "keywords:letter_frequency",
        {"en": "Letter frequency", "zh": "字母出现次数"},
        LetterFrequency,
        check_letter_frequency,
        _render_letter,
    ),
]
