"""``change_case:*``: English in lowercase or capitals, and the count of all-capital words.

Verdicts follow IFEval's ``instructions.py`` (google-research, Apache-2.0): ``str.islower`` /
``str.isupper`` on the whole response, then langdetect must say ``en`` (a failed detection counts
as followed); capital words are the tokens of NLTK's word tokenizer for which ``isupper`` holds,
so ``DON'T`` is two (``DO``, ``N'T``) and ``WELL-KNOWN`` is one.
"""

from __future__ import annotations

from .base import (
    N_,
    ConstraintSpec,
    Count,
    NoParams,
    Params,
    Relation,
    Verdict,
    by_relation,
    compare,
    count_field,
    ngettext,
    templates,
)
from .language import detect_language
from .text import word_tokens


class CapitalWordFrequency(Params):
    capital_frequency: Count = count_field(10_000)
    capital_relation: Relation


def _english(response: str, ok: str) -> Verdict:
    detected = detect_language(response)
    if detected is None:
        return Verdict(
            True, N_("The language could not be detected; counted as followed, as IFEval does."), {}
        )
    if detected != "en":
        return Verdict(
            False, N_('Detected language "{detected}"; needs English.'), {"detected": detected}
        )
    return Verdict(True, ok, {})


def check_english_lowercase(response: str) -> Verdict:
    if not response.islower():
        if any(ch.isupper() for ch in response):
            return Verdict(False, N_("The response contains capital letters."), {})
        return Verdict(False, N_("The response contains no lowercase letters."), {})
    return _english(response, N_("The response is in English and all lowercase."))


def check_english_capital(response: str) -> Verdict:
    if not response.isupper():
        if any(ch.islower() for ch in response):
            return Verdict(False, N_("The response contains lowercase letters."), {})
        return Verdict(False, N_("The response contains no capital letters."), {})
    return _english(response, N_("The response is in English and all capitals."))


def count_capital_words(response: str) -> int:
    return sum(1 for token in word_tokens(response) if token.isupper())


def check_capital_word_frequency(
    response: str, *, capital_frequency: int, capital_relation: str
) -> Verdict:
    count = count_capital_words(response)
    message = by_relation(
        capital_relation,
        ngettext(
            "Found {count} all-capital word; needs fewer than {limit}.",
            "Found {count} all-capital words; needs fewer than {limit}.",
        ),
        ngettext(
            "Found {count} all-capital word; needs at least {limit}.",
            "Found {count} all-capital words; needs at least {limit}.",
        ),
    )
    return Verdict(
        compare(count, capital_relation, capital_frequency),
        message,
        {"count": count, "limit": capital_frequency},
    )


SPECS = [
    ConstraintSpec(
        "change_case:english_lowercase",
        {"en": "English, all lowercase", "zh": "英文，全部小写"},
        NoParams,
        check_english_lowercase,
        templates(
            "Your entire response should be in English, and in all lowercase letters. "
            "No capital letters are allowed.",
            "整个回答应使用英文，并且全部为小写字母，不允许出现大写字母。",
        ),
    ),
    ConstraintSpec(
        "change_case:english_capital",
        {"en": "English, all capitals", "zh": "英文，全部大写"},
        NoParams,
        check_english_capital,
        templates(
            "Your entire response should be in English, and in all capital letters.",
            "整个回答应使用英文，并且全部为大写字母。",
        ),
    ),
    ConstraintSpec(
        "change_case:capital_word_frequency",
        {"en": "All-capital words", "zh": "全大写单词数"},
        CapitalWordFrequency,
        check_capital_word_frequency,
        templates(
            "In your response, words with all capital letters should appear "
            "{capital_relation} {capital_frequency} times.",
            "在回答中，全部由大写字母组成的单词应出现{capital_relation} {capital_frequency} 次。",
        ),
    ),
]
