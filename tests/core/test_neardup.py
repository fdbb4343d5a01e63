"""Near-duplicate index: shingles, MinHash and LSH band keys, in English and Chinese."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.core.neardup import (
    BANDS,
    DEFAULT_HASHER,
    EMPTY_SLOT,
    MERSENNE_PRIME,
    NUM_PERM,
    ROWS,
    MinHasher,
    band_keys,
    candidate_probability,
    exact_jaccard,
    item_text,
    jaccard_estimate,
    normalise,
    shingles,
    similarity,
    text_band_keys,
)

ROOT = Path(__file__).resolve().parents[2]

# 25 words; the near-duplicate changes one of them.
EN = (
    "Write a short story for children about a brave little turtle who travels across the ocean "
    "to find her family, using simple words and rhymes."
)
EN_NEAR = EN.replace("turtle", "penguin")
EN_OTHER = (
    "Explain the difference between a stack and a queue in computer science, and give one "
    "real-world example of each data structure."
)
ZH = "请把下面这段话翻译成英文，并保持原文的语气。"
ZH_NEAR = "请把下面这段话翻译成法文，并保持原文的语气。"
ZH_OTHER = "今天天气很好，我们一起去公园散步吧。"


def keys_of(text: str) -> list[int]:
    return text_band_keys(text)


def shared_bands(text_a: str, text_b: str) -> int:
    return sum(a == b for a, b in zip(keys_of(text_a), keys_of(text_b), strict=True))


def naive_signature(hasher: MinHasher, hashes: set[int]) -> tuple[int, ...]:
    values = {x % MERSENNE_PRIME for x in hashes}
    return tuple(min((a * x + b) % MERSENNE_PRIME for x in values) for a, b in hasher.coefficients)


class TestShingles:
    def test_normalise_folds_width_case_and_whitespace(self):
        assert normalise("  ＨＥＬＬＯ\tWorld\n\n ") == "hello world"
        assert shingles("Hello   WORLD, how are you") == shingles("hello world how are you")

    def test_short_texts_still_have_a_shingle(self):
        assert len(shingles("Hi")) == 1
        assert len(shingles("Hi there")) == 1  # shorter than a word 3-gram
        assert len(shingles("你")) == 1
        assert len(shingles("one two three four")) == 2

    def test_cjk_bigrams_ignore_punctuation(self):
        assert len(shingles("你好，世界")) == 3  # 你好 好世 世界: one CJK run
        assert shingles("你好，世界") == shingles("你好世界")

    def test_mixed_text_shingles_each_run(self):
        # 我用 | python | 写代码 → 我用, python, 写代, 代码
        assert len(shingles("我用 Python 写代码。")) == 4

    def test_hashes_are_unsigned_64_bit(self):
        assert all(0 <= value < 2**64 for value in shingles(EN + ZH))


class TestMinHash:
    def test_packed_arithmetic_matches_the_formula(self):
        rng = random.Random(7)
        for size in (1, 2, 3, 97, 255, 256, 257, 600):
            hashes = {rng.getrandbits(64) for _ in range(size)}
            hashes |= {0, MERSENNE_PRIME - 1, MERSENNE_PRIME, 2**64 - 1}
            assert DEFAULT_HASHER.signature(hashes) == naive_signature(DEFAULT_HASHER, hashes)

    def test_signature_shape_and_seed(self):
        signature = DEFAULT_HASHER.signature(shingles(EN))
        assert len(signature) == NUM_PERM
        assert all(0 <= value < MERSENNE_PRIME for value in signature)
        assert MinHasher(seed=2).signature(shingles(EN)) != signature
        assert len(MinHasher(num_perm=32).signature(shingles(EN))) == 32

    def test_estimate_tracks_exact_jaccard(self):
        a, b = shingles(EN), shingles(EN_NEAR)
        estimate = jaccard_estimate(DEFAULT_HASHER.signature(a), DEFAULT_HASHER.signature(b))
        assert abs(estimate - exact_jaccard(a, b)) < 0.2
        assert MinHasher.jaccard_estimate is jaccard_estimate

    def test_estimate_needs_equal_lengths(self):
        with pytest.raises(ValueError):
            jaccard_estimate((1, 2), (1, 2, 3))


class TestStability:
    def test_same_values_in_a_fresh_process(self):
        script = (
            "import json, sys\n"
            "from app.core.neardup import DEFAULT_HASHER, shingles, text_band_keys\n"
            "text = sys.argv[1]\n"
            "print(json.dumps([list(DEFAULT_HASHER.signature(shingles(text))),"
            " text_band_keys(text)]))\n"
        )
        text = EN + "\n" + ZH
        # A different hash seed in the child would expose any use of the salted hash().
        result = subprocess.run(
            [sys.executable, "-c", script, text],
            cwd=ROOT,
            env={"PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        signature, keys = json.loads(result.stdout)
        assert tuple(signature) == DEFAULT_HASHER.signature(shingles(text))
        assert keys == text_band_keys(text)

    def test_band_keys_are_pinned(self):
        # Stored keys depend on these exact values. If this fails on purpose, bump INDEX_VERSION
        # and rebuild the band-key table.
        assert text_band_keys("Write a haiku about the sea.")[:4] == [
            -7161259900482321540,
            -1748269792999730154,
            -5454234185692203542,
            4504317787367842327,
        ]


class TestBandKeys:
    def test_identical_texts(self):
        assert keys_of(EN) == keys_of(EN) and len(keys_of(EN)) == BANDS
        assert shared_bands(ZH, ZH) == BANDS
        assert similarity(EN, EN) == 1.0
        assert similarity(ZH, ZH) == 1.0

    @pytest.mark.parametrize(("text", "near"), [(EN, EN_NEAR), (ZH, ZH_NEAR)], ids=["en", "zh"])
    def test_near_duplicates_are_candidates(self, text, near):
        assert shared_bands(text, near) >= 1
        assert similarity(text, near) > 0.6

    @pytest.mark.parametrize(
        ("text", "other"), [(EN, EN_OTHER), (ZH, ZH_OTHER), (EN, ZH)], ids=["en", "zh", "mixed"]
    )
    def test_unrelated_texts_are_not(self, text, other):
        assert shared_bands(text, other) == 0
        assert similarity(text, other) < 0.2

    def test_keys_fit_a_signed_bigint(self):
        rng = random.Random(3)
        words = EN.split() + list(ZH)
        keys = [
            key
            for _ in range(200)
            for key in keys_of(" ".join(rng.choices(words, k=rng.randrange(1, 40))))
        ]
        assert all(-(2**63) <= key < 2**63 for key in keys)
        assert min(keys) < 0 < max(keys)  # converted as signed, not as unsigned

    def test_same_rows_in_different_bands_give_different_keys(self):
        keys = band_keys((5,) * NUM_PERM)
        assert len(set(keys)) == BANDS

    def test_bands_must_divide_the_signature(self):
        with pytest.raises(ValueError):
            band_keys(DEFAULT_HASHER.signature(shingles(EN)), bands=10)

    def test_candidate_probability_curve(self):
        assert (BANDS, ROWS) == (16, 4)
        curve = {s: candidate_probability(s) for s in (0.3, 0.5, 0.8)}
        print("P(candidate | Jaccard s) for 16 bands of 4 rows:", curve)
        assert curve[0.3] == pytest.approx(0.1220, abs=1e-4)
        assert curve[0.5] == pytest.approx(0.6439, abs=1e-4)
        assert curve[0.8] == pytest.approx(0.99978, abs=1e-5)


class TestEmptyText:
    @pytest.mark.parametrize("text", ["", "   \n\t ", "，。！", "..."])
    def test_empty_text_has_no_keys(self, text):
        # No shingles: every slot holds EMPTY_SLOT (p, outside each permutation's range), and
        # band_keys gives nothing, so an empty draft never matches or is matched.
        assert shingles(text) == set()
        signature = DEFAULT_HASHER.signature(shingles(text))
        assert signature == (EMPTY_SLOT,) * NUM_PERM == DEFAULT_HASHER.empty_signature
        assert band_keys(signature) == []
        assert jaccard_estimate(signature, signature) == 0.0
        assert similarity(text, text) == 0.0
        assert similarity(text, EN) == 0.0


class TestItemText:
    def test_joins_the_parts_and_skips_blank_ones(self):
        assert item_text("Translate.", "", "Bonjour") == "Translate.\nBonjour"

    def test_demos_as_dicts_or_models(self):
        stored = [{"input": "2+2", "output": "4"}]
        models = [SimpleNamespace(input="2+2", output="4")]
        expected = "Add the numbers.\n3+5\n2+2\n4"
        assert item_text("Add the numbers.", "3+5", "", stored) == expected
        assert item_text("Add the numbers.", "3+5", "", models) == expected
