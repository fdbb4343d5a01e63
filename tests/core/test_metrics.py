"""Text metrics against hand-computed values, in English and Chinese (design §5)."""

from __future__ import annotations

import pytest

from app.core.metrics import (
    aggregate,
    exact_match,
    lcs_length,
    normalize_answer,
    rouge_l,
    text_scores,
    token_prf,
    tokens,
)


class TestNormalisation:
    @pytest.mark.parametrize(
        ("text", "normalised"),
        [
            ("The Cat, sat on a mat!", "cat sat on mat"),
            ("An apple — the best.", "apple best"),  # em dash is Unicode punctuation (Pd)
            ("  Theater\tand\nthem  ", "theater and them"),  # articles only as whole words
            ("Hello,World", "helloworld"),  # SQuAD deletes punctuation without a space
            ("$5 + 3", "5 3"),  # ASCII symbols count as punctuation, as in SQuAD
            ("你好，世界！", "你好世界"),  # full-width punctuation goes too
            ("「引号」与《书名》", "引号与书名"),
        ],
    )
    def test_normalize_answer(self, text, normalised):
        assert normalize_answer(text) == normalised

    def test_each_cjk_character_is_a_token(self):
        assert tokens("我用 Python 写代码。") == ["我", "用", "python", "写", "代", "码"]
        assert tokens("The end.") == ["end"]
        assert tokens("") == []


class TestExactMatch:
    @pytest.mark.parametrize(
        ("prediction", "reference", "score"),
        [
            ("Paris", "paris.", 1.0),
            ("The answer!", "answer", 1.0),
            ("Paris", "Lyon", 0.0),
            ("你好 世界", "你好世界。", 1.0),  # spaces between CJK characters carry no meaning
            ("你好", "您好", 0.0),
            ("", "the", 1.0),  # both normalise to nothing
        ],
    )
    def test_exact_match(self, prediction, reference, score):
        assert exact_match(prediction, reference) == score


class TestTokenPRF:
    def test_english(self):
        # pred [cat sat on mat] (4), ref [cat lay on red mat] (5); common {cat, on, mat} = 3.
        # P = 3/4, R = 3/5, F1 = 2·(3/4)(3/5) / (3/4 + 3/5) = (9/10) / (27/20) = 2/3.
        precision, recall, f1 = token_prf("The cat sat on the mat.", "A cat lay on a red mat")
        assert (precision, recall) == (3 / 4, 3 / 5)
        assert f1 == pytest.approx(2 / 3)

    def test_repeated_tokens_count_once_per_match(self):
        # pred [dog dog dog cat], ref [dog cat cat]: overlap min(3,1) + min(1,2) = 2.
        # P = 2/4, R = 2/3, F1 = 2·(1/2)(2/3) / (1/2 + 2/3) = (2/3) / (7/6) = 4/7.
        precision, recall, f1 = token_prf("dog dog dog cat", "dog cat cat")
        assert (precision, recall) == (1 / 2, 2 / 3)
        assert f1 == pytest.approx(4 / 7)

    def test_chinese(self):
        # pred 我喜欢机器学习 (7 chars), ref 我爱机器学习 (6); common 我机器学习 = 5.
        # P = 5/7, R = 5/6, F1 = 2·(25/42) / (5/7 + 5/6) = (50/42) / (65/42) = 10/13.
        precision, recall, f1 = token_prf("我喜欢机器学习。", "我爱机器学习")
        assert (precision, recall) == (5 / 7, 5 / 6)
        assert f1 == pytest.approx(10 / 13)

    def test_mixed_chinese_and_english(self):
        # pred [我 用 python 写 代 码] (6), ref [我 用 python 编 程] (5); common 3.
        # P = 3/6, R = 3/5, F1 = 2·(3/10) / (11/10) = 6/11.
        precision, recall, f1 = token_prf("我用 Python 写代码", "我用Python编程")
        assert (precision, recall) == (1 / 2, 3 / 5)
        assert f1 == pytest.approx(6 / 11)

    def test_empty_sides(self):
        assert token_prf("", "") == (1.0, 1.0, 1.0)
        assert token_prf("a the", "!") == (1.0, 1.0, 1.0)  # both normalise to nothing
        assert token_prf("", "Paris") == (0.0, 0.0, 0.0)
        assert token_prf("Paris", "") == (0.0, 0.0, 0.0)
        assert token_prf("Paris", "Lyon") == (0.0, 0.0, 0.0)


class TestRougeL:
    def test_lcs_length(self):
        # The textbook pair (CLRS 15.4): ABCBDAB and BDCABA share BCBA.
        assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
        assert lcs_length([], ["a"]) == 0

    def test_english(self):
        # LCS of [one two three four] (4) and [one two x three y] (5) is [one two three] = 3.
        # P = 3/4, R = 3/5, F = 2PR / (P + R) = 2/3.
        assert rouge_l("one two three four", "one two x three y") == pytest.approx(2 / 3)

    def test_order_matters_unlike_token_f1(self):
        # [mat on cat] vs [cat on mat]: bag overlap 3 (F1 = 1), LCS 1 → P = R = 1/3, F = 1/3.
        assert token_prf("mat on cat", "cat on mat")[2] == 1.0
        assert rouge_l("mat on cat", "cat on mat") == pytest.approx(1 / 3)

    def test_chinese(self):
        # 我喜欢机器学习 (7) vs 我爱机器学习 (6): LCS 我机器学习 = 5 → P = 5/7, R = 5/6, F = 10/13.
        assert rouge_l("我喜欢机器学习。", "我爱机器学习") == pytest.approx(10 / 13)
        # 学习机器 vs 机器学习: LCS 2 (学习 or 机器) of 4 and 4 → P = R = 1/2, F = 1/2.
        assert rouge_l("学习机器", "机器学习") == pytest.approx(1 / 2)

    def test_identical_and_empty(self):
        assert rouge_l("The same words.", "the same words") == 1.0
        assert rouge_l("", "") == 1.0
        assert rouge_l("", "words") == 0.0
        assert rouge_l("other", "words") == 0.0


class TestAggregate:
    def test_means_per_key(self):
        rows = [{"f1": 1.0, "exact_match": 1.0}, {"f1": 0.5, "exact_match": 0.0}, {"f1": 0.0}]
        # f1: (1 + 0.5 + 0) / 3 = 0.5; exact_match over the two rows that have it: 1/2.
        assert aggregate(rows) == {"f1": 0.5, "exact_match": 0.5}

    def test_skips_none_and_handles_no_rows(self):
        assert aggregate([{"f1": None, "rouge_l": 1.0}, {"f1": 0.25}]) == {
            "f1": 0.25,
            "rouge_l": 1.0,
        }
        assert aggregate([]) == {}

    def test_text_scores_feed_aggregate(self):
        scores = [
            text_scores("The cat sat on the mat.", "A cat lay on a red mat"),
            text_scores("你好", "你好！"),
        ]
        assert scores[1] == {
            "exact_match": 1.0,
            "precision": 1.0,
            "recall": 1.0,
            "f1": 1.0,
            "rouge_l": 1.0,
        }
        means = aggregate(scores)
        # exact_match (0 + 1) / 2; f1 and rouge_l (2/3 + 1) / 2 = 5/6.
        assert means["exact_match"] == 0.5
        assert means["f1"] == pytest.approx(5 / 6)
        assert means["rouge_l"] == pytest.approx(5 / 6)
