"""split_words in one scan gives the words of its definition: each CJK character alone, then
the runs of \\w+ in what lies between; first_word is its first."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from app.core.cjk import CJK_CHAR, CJK_CLASS, count_words, first_word, split_words

WORD = re.compile(r"\w+")
# Latin, digits, the edges of the CJK ranges, kana punctuation (not \w), an Ext-B ideograph,
# combining marks and everyday punctuation.
ALPHABET = "ab Z_09éß中文一・ー゠、。!?,.-\n\t" + "\u3040\u30ff\u4dbf\uf900\U00020000\u0307"


def by_definition(text: str) -> list[str]:
    words: list[str] = []
    for chunk in re.split(f"([{CJK_CLASS}])", text):
        if len(chunk) == 1 and CJK_CHAR.match(chunk):
            words.append(chunk)
        else:
            words.extend(WORD.findall(chunk))
    return words


@given(st.text(alphabet=ALPHABET, max_size=60))
def test_split_words_matches_its_definition(text):
    assert split_words(text) == by_definition(text)


@given(st.text(alphabet=ALPHABET, max_size=60))
def test_first_word_is_the_first_of_the_split(text):
    words = by_definition(text)
    assert first_word(text) == (words[0] if words else None)


@given(st.text(alphabet=ALPHABET, max_size=60))
def test_the_word_count_is_the_number_of_words_split(text):
    # Statistics count words by splitting (one scan) where count_words would take three.
    assert count_words(text) == len(split_words(text))


def test_examples():
    assert split_words("用Python写一个 hello_world!") == [
        "用",
        "Python",
        "写",
        "一",
        "个",
        "hello_world",
    ]
    assert first_word("  ...  Summarise 这段") == "Summarise"
    assert first_word("。、！") is None
