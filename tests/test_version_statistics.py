"""The version statistics computed in bulk agree with their one-item-at-a-time definitions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.datasets.statistics import _distinct
from app.tokenizer import count_tokens, count_tokens_batch

WORDS = st.lists(st.sampled_from(["a", "b", "c", "the", "中", "文"]), max_size=8)


def distinct_by_definition(texts: list[list[str]], n: int) -> float | None:
    grams = [tuple(t[i : i + n]) for t in texts for i in range(len(t) - n + 1)]
    return round(len(set(grams)) / len(grams), 4) if grams else None


@given(st.lists(WORDS, max_size=12), st.sampled_from([1, 2]))
def test_distinct_n_matches_its_definition(texts, n):
    assert _distinct(texts, n) == distinct_by_definition(texts, n)


@settings(max_examples=25)
@given(st.lists(st.text(max_size=80), max_size=10))
def test_tokens_counted_together_equal_tokens_counted_one_by_one(texts):
    assert count_tokens_batch(texts) == [count_tokens(text) for text in texts]
