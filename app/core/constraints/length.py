"""``length_constraints:*``: words, characters, sentences, paragraphs, a paragraph's first word.

Verdicts follow IFEval's ``instructions.py`` (google-research, Apache-2.0). Words are counted
with :func:`app.core.cjk.count_words`, which equals IFEval's ``\\w+`` tokenizer on text without
CJK characters and counts each CJK character as a word.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints, ValidationInfo, field_validator

from app.core.cjk import CJK_CHAR, CJK_CLASS, count_words, has_cjk

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
    templates,
)
from .text import count_sentences


class NumberWords(Params):
    num_words: Count = count_field(100_000)
    relation: Relation


class NumberChars(Params):
    num_chars: Count = count_field(1_000_000)
    relation: Relation


class NumberSentences(Params):
    num_sentences: Count = count_field(10_000)
    relation: Relation


class NumberParagraphs(Params):
    num_paragraphs: Count = count_field(1_000)


FirstWord = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class NthParagraphFirstWord(Params):
    num_paragraphs: Count = count_field(1_000)
    nth_paragraph: Count = count_field(1_000)
    first_word: FirstWord

    @field_validator("first_word")
    @classmethod
    def _one_word(cls, value: str) -> str:
        if any(ch.isspace() for ch in value):
            raise ValueError("Give a single word, without spaces.")
        return value.lower()

    @field_validator("nth_paragraph")
    @classmethod
    def _nth_within(cls, value: int, info: ValidationInfo) -> int:
        total = info.data.get("num_paragraphs")
        if total is not None and value > total:
            raise ValueError("The paragraph number cannot exceed the number of paragraphs.")
        return value


def _counted(count: int, relation: str, limit: int, less: str, least: str) -> Verdict:
    return Verdict(
        compare(count, relation, limit),
        by_relation(relation, less, least),
        {"count": count, "limit": limit},
    )


def check_number_words(response: str, *, num_words: int, relation: str) -> Verdict:
    return _counted(
        count_words(response),
        relation,
        num_words,
        ngettext(
            "Found {count} word; needs fewer than {limit}.",
            "Found {count} words; needs fewer than {limit}.",
        ),
        ngettext(
            "Found {count} word; needs at least {limit}.",
            "Found {count} words; needs at least {limit}.",
        ),
    )


def check_number_chars(response: str, *, num_chars: int, relation: str) -> Verdict:
    # Every character counts, spaces and punctuation included, once the ends are trimmed.
    return _counted(
        len(response.strip()),
        relation,
        num_chars,
        ngettext(
            "Found {count} character; needs fewer than {limit}.",
            "Found {count} characters; needs fewer than {limit}.",
        ),
        ngettext(
            "Found {count} character; needs at least {limit}.",
            "Found {count} characters; needs at least {limit}.",
        ),
    )


def check_number_sentences(response: str, *, num_sentences: int, relation: str) -> Verdict:
    return _counted(
        count_sentences(response),
        relation,
        num_sentences,
        ngettext(
            "Found {count} sentence; needs fewer than {limit}.",
            "Found {count} sentences; needs fewer than {limit}.",
        ),
        ngettext(
            "Found {count} sentence; needs at least {limit}.",
            "Found {count} sentences; needs at least {limit}.",
        ),
    )


def check_number_paragraphs(response: str, *, num_paragraphs: int) -> Verdict:
    # IFEval: split on *** dividers; an empty first or last part does not count, an empty part
    # anywhere else fails the check.
    paragraphs = re.split(r"\s?\*\*\*\s?", response)
    count = len(paragraphs)
    for index, paragraph in enumerate(paragraphs):
        if not paragraph.strip():
            if index in (0, len(paragraphs) - 1):
                count -= 1
            else:
                return Verdict(
                    False,
                    N_("Paragraph {index} between *** dividers is empty."),
                    {"index": index + 1},
                )
    return Verdict(
        count == num_paragraphs,
        ngettext(
            "Found {count} paragraph separated by ***; needs exactly {expected}.",
            "Found {count} paragraphs separated by ***; needs exactly {expected}.",
        ),
        {"count": count, "expected": num_paragraphs},
    )


_LEADING_QUOTES = "'\"“‘「『"


_FIRST_WORD_END = re.compile(rf"[.,?!'\"{CJK_CLASS}]")


def _first_word(paragraph: str) -> str:
    # IFEval: the first whitespace token, leading quotes removed, cut at the first punctuation
    # mark of . , ? ! ' " and lowercased. Also cut at a CJK character (only CJK text differs):
    # a CJK character that starts the word is the word. Lowercased one character at a time, as
    # IFEval does (a whole Greek word would end in a final sigma).
    word = paragraph.split(maxsplit=1)[0].strip().lstrip("'").lstrip('"')
    end = _FIRST_WORD_END.search(word)
    stop = len(word) if end is None else end.start()
    if stop == 0 and word and CJK_CHAR.match(word[0]):
        stop = 1
    return "".join(map(str.lower, word[:stop]))


def check_nth_paragraph_first_word(
    response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str
) -> Verdict:
    paragraphs = re.split(r"\n\n", response)
    count = sum(1 for p in paragraphs if p.strip())
    args = {"count": count, "expected": num_paragraphs, "nth": nth_paragraph, "word": first_word}
    # IFEval indexes the raw split (empty parts included) with the count of non-empty ones.
    paragraph = paragraphs[nth_paragraph - 1].strip() if nth_paragraph <= count else ""
    if not paragraph:
        return Verdict(False, N_("Paragraph {nth} is missing or empty."), args)
    if has_cjk(first_word):
        found = (
            first_word
            if paragraph.lstrip(_LEADING_QUOTES).lower().startswith(first_word)
            else _first_word(paragraph)
        )
    else:
        found = _first_word(paragraph)
    if found != first_word:
        return Verdict(
            False,
            N_('Paragraph {nth} starts with "{found}"; needs "{word}".'),
            {**args, "found": found},
        )
    return Verdict(
        count == num_paragraphs,
        N_(
            "Found {count} paragraphs; needs exactly {expected}, with paragraph {nth} "
            'starting with "{word}".'
        ),
        args,
    )


SPECS = [
    ConstraintSpec(
        "length_constraints:number_words",
        {"en": "Number of words", "zh": "词数"},
        NumberWords,
        check_number_words,
        templates("Answer with {relation} {num_words} words.", "回答{relation} {num_words} 个词。"),
    ),
    ConstraintSpec(
        "length_constraints:number_characters",
        {"en": "Number of characters", "zh": "字符数"},
        NumberChars,
        check_number_chars,
        templates(
            "Answer with {relation} {num_chars} characters.", "回答{relation} {num_chars} 个字符。"
        ),
    ),
    ConstraintSpec(
        "length_constraints:number_sentences",
        {"en": "Number of sentences", "zh": "句子数"},
        NumberSentences,
        check_number_sentences,
        templates(
            "Your response should contain {relation} {num_sentences} sentences.",
            "回答应包含{relation} {num_sentences} 个句子。",
        ),
    ),
    ConstraintSpec(
        "length_constraints:number_paragraphs",
        {"en": "Paragraphs separated by ***", "zh": "用 *** 分隔的段落数"},
        NumberParagraphs,
        check_number_paragraphs,
        templates(
            "There should be {num_paragraphs} paragraphs. "
            "Paragraphs are separated with the markdown divider: ***",
            "回答应包含 {num_paragraphs} 个段落，段落之间用 Markdown 分隔线 *** 分隔。",
        ),
    ),
    ConstraintSpec(
        "length_constraints:nth_paragraph_first_word",
        {"en": "First word of a paragraph", "zh": "指定段落的首词"},
        NthParagraphFirstWord,
        check_nth_paragraph_first_word,
        templates(
            "There should be {num_paragraphs} paragraphs. Paragraphs and only paragraphs "
            "are separated with each other by two new lines as if it was '\\n\\n' in "
            "python. Paragraph {nth_paragraph} must start with word {first_word}.",
            "回答应包含 {num_paragraphs} 个段落，段落之间（且仅在段落之间）用两个换行符"
            "（即 Python 中的 '\\n\\n'）分隔。第 {nth_paragraph} 段必须以“{first_word}”"
            "开头。",
        ),
    ),
]
