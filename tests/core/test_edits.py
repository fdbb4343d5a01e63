"""The word-level edit ratio against hand-computed values, and its bit-parallel distance against
the textbook dynamic programme."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import edits
from app.core.edits import edit_ratio, edit_tokens, token_distance


def textbook_distance(old: list[str], new: list[str]) -> int:
    previous = list(range(len(new) + 1))
    for row, token in enumerate(old, start=1):
        current = [row]
        for column, other in enumerate(new, start=1):
            current.append(
                min(previous[column] + 1, current[-1] + 1, previous[column - 1] + (token != other))
            )
        previous = current
    return previous[-1]


class TestTokens:
    def test_words_keep_their_case_and_punctuation_counts(self):
        assert edit_tokens("Hello, World... teh end!?") == [
            "Hello",
            ",",
            "World",
            "...",
            "teh",
            "end",
            "!?",
        ]

    def test_each_cjk_character_is_a_token(self):
        assert edit_tokens("我用Python写代码。") == ["我", "用", "Python", "写", "代", "码", "。"]

    def test_composed_and_decomposed_letters_are_one_token(self):
        assert edit_tokens("cafe\u0301") == edit_tokens("caf\u00e9") == ["café"]


class TestEditRatio:
    @pytest.mark.parametrize(
        ("before", "after", "ratio"),
        [
            ("the cat sat", "the dog sat", 1 / 3),  # one substitution in 3 tokens
            ("the cat sat", "the black cat sat", 1 / 4),  # one insertion, 4 tokens after
            ("the black cat sat", "the cat sat", 1 / 4),  # one deletion, 4 tokens before
            ("the cat sat", "the cat sat", 0.0),
            ("", "", 0.0),
            ("", "a new text", 1.0),
            ("an old text", "", 1.0),
            ("one two three", "four five six", 1.0),
            ("teh cat sat", "the cat sat", 1 / 3),  # a typo fixed is an edit
            ("the cat sat", "The cat sat", 1 / 3),  # so is a capital letter
            ("the cat sat", "the cat sat.", 1 / 4),  # and a full stop: 4 tokens after
            ("the  cat\nsat", "the cat sat", 0.0),  # whitespace is no token
            ("a b c d", "b c d a", 2 / 4),  # move = delete + insert
            ("我喜欢猫", "我喜欢狗", 1 / 4),  # 4 characters, one substituted
            ("我喜欢猫。", "我很喜欢猫。", 1 / 6),  # one character inserted, 6 tokens after
            ("今天天气很好", "天气很好", 2 / 6),  # two characters deleted
        ],
    )
    def test_hand_computed(self, before, after, ratio):
        assert edit_ratio(before, after) == pytest.approx(ratio)

    def test_symmetric(self):
        before = "Summarise the article in three sentences."
        after = "Summarize this article in 3 short sentences!"
        # Summarise→Summarize, the→this, three→3, insert short, .→!: 5 edits, 8 tokens after.
        assert edit_ratio(before, after) == edit_ratio(after, before) == pytest.approx(5 / 8)


class TestDistance:
    @settings(max_examples=400, deadline=None)
    @given(
        st.lists(st.sampled_from("abcd"), max_size=40),
        st.lists(st.sampled_from("abcd"), max_size=40),
    )
    def test_equals_the_textbook_programme(self, old, new):
        assert token_distance(old, new) == textbook_distance(old, new)

    def test_long_inputs_cross_a_machine_word(self):
        old = [str(i % 97) for i in range(300)]
        new = old[:100] + ["x"] + old[110:250] + ["y", "z"] + old[250:]
        assert token_distance(old, new) == textbook_distance(old, new) == 12

    def test_beyond_the_cap_the_rest_counts_as_changed(self, monkeypatch):
        monkeypatch.setattr(edits, "MAX_TOKENS", 4)
        # After the common prefix "a" goes, the middles are 6 tokens: 4 compared exactly
        # (x y z w vs x y z v: 1 edit), the 2 beyond counted as changed.
        old = ["a", "x", "y", "z", "w", "p", "q"]
        new = ["a", "x", "y", "z", "v", "r", "s"]
        assert token_distance(old, new) == 1 + 2
        assert textbook_distance(old, new) == 3  # the bound is exact here, and never below
