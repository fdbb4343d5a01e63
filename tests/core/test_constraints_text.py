"""Word counts, sentence splitting and word tokens behind the constraint checkers."""

from __future__ import annotations

import pytest

from app.core.cjk import count_words
from app.core.constraints.text import (
    count_sentences,
    ifeval_sentences,
    split_sentences,
    treebank_tokens,
    word_tokens,
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("这是一个测试。", 6),
        ("我喜欢 Python 和机器学习", 9),
        ("One, two; three-four!", 4),
        ("", 0),
        ("   \n\t ", 0),
        ("日本語のテキスト", 8),  # kanji, hiragana and katakana are one word each
    ],
)
def test_design_word_count_examples(text, words):
    assert count_words(text) == words


# --- sentences ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("", []),
        ("   ", []),
        ("No punctuation at all", ["No punctuation at all"]),
        ("One. Two! Three?", ["One.", "Two!", "Three?"]),
        ("Dr. Smith is here. He said hi.", ["Dr. Smith is here.", "He said hi."]),
        ("Use tools e.g. hammers. Then stop.", ["Use tools e.g. hammers.", "Then stop."]),
        ("Pi is 3.14. Yes.", ["Pi is 3.14.", "Yes."]),
        ("Visit example.com today. Bye.", ["Visit example.com today.", "Bye."]),
        ('He said "stop." Then left.', ['He said "stop".', "Then left."]),
        ("Line one\nline two.", ["Line one line two."]),
    ],
)
def test_ifeval_sentence_splitter(text, sentences):
    assert ifeval_sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("今天天气很好。我们去公园吧！你去吗？", ["今天天气很好。", "我们去公园吧！", "你去吗？"]),
        ("他说：“你好。”然后走了。", ["他说：“你好。”", "然后走了。"]),
        ("I like Python。它很好用！", ["I like Python。", "它很好用！"]),
        ("真的吗？！太好了。", ["真的吗？！", "太好了。"]),
        ("没有句号的中文", ["没有句号的中文"]),
    ],
)
def test_cjk_sentence_enders(text, sentences):
    assert split_sentences(text) == sentences


def test_cjk_enders_only_split_text_with_cjk():
    # Without CJK characters the splitter is IFEval's, which does not know 。
    assert ifeval_sentences("Hello。World") == ["Hello。World"]


def test_punctuation_only_fragments_join_their_sentence():
    assert ifeval_sentences("Hi!!! There.") == ["Hi!", "!", "!", "There."]
    assert split_sentences("Hi!!! There.") == ["Hi!!!", "There."]
    assert split_sentences("Really?! Yes.") == ["Really?!", "Yes."]
    assert split_sentences("!!!") == ["!!!"]
    assert count_sentences("Wait... what?") == 2  # IFEval's splitter ends a sentence at "..."


# --- word tokens (NLTK's word tokenizer) ------------------------------------------------------


def test_treebank_tokens_match_nltk_doctests():
    text = (
        "Good muffins cost $3.88 (roughly 3,36 euros)\nin New York.  Please buy me\n"
        "two of them.\nThanks."
    )
    assert treebank_tokens(text) == [
        "Good",
        "muffins",
        "cost",
        "$",
        "3.88",
        "(",
        "roughly",
        "3,36",
        "euros",
        ")",
        "in",
        "New",
        "York.",
        "Please",
        "buy",
        "me",
        "two",
        "of",
        "them.",
        "Thanks",
        ".",
    ]
    assert treebank_tokens("They'll save and invest more.") == [
        "They",
        "'ll",
        "save",
        "and",
        "invest",
        "more",
        ".",
    ]
    assert treebank_tokens("hi, my name can't hello,") == [
        "hi",
        ",",
        "my",
        "name",
        "ca",
        "n't",
        "hello",
        ",",
    ]


def test_word_tokens_split_sentences_contractions_and_cjk():
    assert word_tokens("DON'T STOP. I AM HERE") == ["DO", "N'T", "STOP", ".", "I", "AM", "HERE"]
    assert word_tokens("WELL-KNOWN, NASA's") == ["WELL-KNOWN", ",", "NASA", "'s"]
    assert word_tokens("我喜欢AI和ML") == ["我", "喜", "欢", "AI", "和", "ML"]
    assert word_tokens("") == []
