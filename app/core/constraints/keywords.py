"""``keywords:*``: keywords present, a keyword's frequency, forbidden words, a letter's frequency.

Verdicts follow IFEval's ``instructions.py`` (google-research, Apache-2.0), quirks included:
``existence`` and ``frequency`` match case-insensitive substrings (``award`` counts for ``war``),
``forbidden_words`` matches whole words with ``\\b``, ``letter_frequency`` counts one character
case-insensitively. Keywords are matched literally; IFEval passes them to ``re`` unescaped, which
only differs for keywords holding regex syntax such as ``C++``.

In text with CJK characters a word next to a CJK character still counts as a whole word, and a
CJK forbidden word matches anywhere (Chinese has no spaces between words).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from app.core.cjk import CJK_CLASS, has_cjk

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


def _contains(keyword: str, response: str) -> bool:
    return re.search(re.escape(keyword), response, flags=re.IGNORECASE) is not None


def check_existence(response: str, *, keywords: list[str]) -> Verdict:
    missing = [kw for kw in keywords if not _contains(kw, response)]
    if missing:
        return Verdict(
            False, N_("Missing keywords: {missing}."), {"missing": quoted(missing, "en")}
        )
    return Verdict(
        True, N_("All keywords found: {keywords}."), {"keywords": quoted(keywords, "en")}
    )


def check_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> Verdict:
    count = len(re.findall(re.escape(keyword), response, flags=re.IGNORECASE))
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


def _whole_word(word: str, response: str) -> bool:
    if not (has_cjk(word) or has_cjk(response)):
        pattern = r"\b" + re.escape(word) + r"\b"  # IFEval
    elif has_cjk(word):
        pattern = re.escape(word)
    else:
        pattern = rf"(?<!{_NON_CJK_WORD}){re.escape(word)}(?!{_NON_CJK_WORD})"
    return re.search(pattern, response, flags=re.IGNORECASE) is not None


def check_forbidden_words(response: str, *, forbidden_words: list[str]) -> Verdict:
    found = [word for word in forbidden_words if _whole_word(word, response)]
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
