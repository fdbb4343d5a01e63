"""What augmentation keeps byte for byte: code, placeholders, numbers, links, constraint words."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from app.core.augment import OPERATIONS, augment, constraint_words
from app.core.constraints import registry

EN = (
    "Write a friendly reply to {customer_name} about order [order id] within 3 days.\n"
    "Mention the discount of 12.5% on purchases over 1,000 dollars and the link "
    "https://shop.example.com/offers?id=42 or mail help@example.com for questions.\n"
    "Call the helper `format_reply(text)` once, address the reader as {{title}} and <recipient>, "
    "and keep the tone warm, polite and professional throughout the whole answer.\n"
    '```python\ndef reply(name):\n    return f"Dear {name}, thanks for the quick order"\n```\n'
    "Always include the keyword Sustainability and finish with a short friendly greeting."
)
EN_KEPT = [
    "{customer_name}",
    "[order id]",
    "3 days",
    "12.5%",
    "1,000 dollars",
    "https://shop.example.com/offers?id=42",
    "help@example.com",
    "`format_reply(text)`",
    "{{title}}",
    "<recipient>",
    '```python\ndef reply(name):\n    return f"Dear {name}, thanks for the quick order"\n```',
    "Sustainability",
]
ZH = (
    "请给{客户姓名}写一封友好的回信，说明订单[订单号]会在3天内发出，并介绍优惠活动。"
    "回信要求不少于十五行，分成三段，每段使用温暖的语言，描述美丽的风景和可靠的服务，"
    "调用函数`format_reply(text)`生成正文，详情见https://shop.example.com/offers。"
    "```python\nprint('你好，世界')\n```\n"
    "最后必须提到可持续发展，并且保持礼貌和专业的态度。"
)
ZH_KEPT = [
    "{客户姓名}",
    "[订单号]",
    "3天",
    "十五行",
    "三段",
    "`format_reply(text)`",
    "https://shop.example.com/offers",
    "```python\nprint('你好，世界')\n```",
    "可持续发展",
]
CONSTRAINTS = {
    "en": [{"id": "keywords:existence", "params": {"keywords": ["sustainability"]}}],
    "zh": [{"id": "keywords:existence", "params": {"keywords": ["可持续发展"]}}],
}
CASES = [(lang, op) for lang in ("en", "zh") for op in OPERATIONS]


@pytest.mark.parametrize(("language", "operation"), CASES)
def test_protected_spans_come_through_byte_for_byte(language, operation):
    text, kept = (EN, EN_KEPT) if language == "en" else (ZH, ZH_KEPT)
    protected = constraint_words(CONSTRAINTS[language])
    changed = 0
    for seed in range(10):
        out = augment(
            text,
            language=language,
            operation=operation,
            seed=seed,
            rate=0.5,
            protected_words=protected,
        )
        changed += out != text
        for span in kept:
            assert out.count(span) == text.count(span), (span, out)
        assert Counter(re.findall(r"\d+", out)) == Counter(re.findall(r"\d+", text))
    assert changed == 10  # the rest of the text did change


def test_constraint_words_are_matched_whatever_their_case():
    text = "Write about Sustainability, sustainability and SUSTAINABILITY in a short essay today."
    protected = constraint_words(CONSTRAINTS["en"])
    for operation in OPERATIONS:
        for seed in range(10):
            out = augment(
                text,
                language="en",
                operation=operation,
                seed=seed,
                rate=0.9,
                protected_words=protected,
            )
            found = re.findall(r"sustainability", out, re.IGNORECASE)
            assert found == ["Sustainability", "sustainability", "SUSTAINABILITY"]


def test_a_phrase_protects_each_of_its_words():
    words = constraint_words([{"id": "startend:end_checker", "params": {"end_phrase": "Big hug"}}])
    assert words == {"big", "hug"}
    for seed in range(10):
        out = augment(
            "Send a big hug to a large family.",
            language="en",
            operation="synonym_replacement",
            seed=seed,
            protected_words=words,
        )
        assert "big hug" in out


def test_synonyms_never_introduce_a_protected_word():
    forbidden = constraint_words(
        [{"id": "keywords:forbidden_words", "params": {"forbidden_words": ["large"]}}]
    )
    outputs = {
        augment(
            "Draw a big house.",
            language="en",
            operation=operation,
            seed=seed,
            protected_words=forbidden,
        )
        for operation in ("synonym_replacement", "random_insertion")
        for seed in range(30)
    }
    assert len(outputs) > 5
    assert not any(re.search(r"\blarge\b", out, re.IGNORECASE) for out in outputs)


def test_chinese_numerals_keep_their_measure_words():
    text = "请写一首关于春天的诗，分成三段，每段五行，描述美丽的花朵。"
    for operation in OPERATIONS:
        for seed in range(10):
            out = augment(text, language="zh", operation=operation, seed=seed, rate=0.5)
            for span in ("一首", "三段", "五行"):
                assert out.count(span) == 1, out


class TestConstraintWords:
    def test_words_of_every_string_parameter(self):
        constraints = [
            {"id": "keywords:existence", "params": {"keywords": ["AI", "machine learning"]}},
            {"id": "keywords:forbidden_words", "params": {"forbidden_words": ["robot"]}},
            {
                "id": "keywords:letter_frequency",
                "params": {"letter": "z", "let_frequency": 3, "let_relation": "at least"},
            },
            {
                "id": "startend:end_checker",
                "params": {"end_phrase": "Is there anything else I can help with?"},
            },
            {
                "id": "length_constraints:nth_paragraph_first_word",
                "params": {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "However"},
            },
            {"id": "detectable_content:postscript", "params": {"postscript_marker": "P.S."}},
            {"id": "keywords:existence", "params": {"keywords": ["人工智能"]}},
            {"id": "punctuation:no_comma", "params": {}},
        ]
        for constraint in constraints:  # real constraints, as the registry accepts them
            registry.validate_params(constraint["id"], constraint["params"])
        assert constraint_words(constraints) == {
            "ai", "machine", "learning", "robot", "z", "at", "least", "is", "there",
            "anything", "else", "i", "can", "help", "with", "however", "p", "s", "人工智能",
        }  # fmt: skip

    def test_no_constraints_no_words(self):
        assert constraint_words([]) == set()
        assert constraint_words([{"id": "punctuation:no_comma"}]) == set()


def test_digits_and_placeholders_of_seed_tasks_survive(test_data):
    """Self-Instruct's first 50 seed tasks (instructions, inputs and outputs: letters, emails
    with [name] placeholders, dates, tables, code) under every operation."""
    rows = [json.loads(line) for line in (test_data / "seed_tasks.jsonl").open()][:50]
    texts = [
        text
        for row in rows
        for text in (
            row["instruction"],
            row["instances"][0]["input"],
            row["instances"][0]["output"],
        )
        if text
    ]
    placeholder = re.compile(r"\{\{[^{}\n]+\}\}|\{[^{}\n]+\}|\[[^\[\]\n]+\]|<[^<>\n]+>")
    assert sum(bool(placeholder.search(t)) for t in texts) >= 5
    assert sum(bool(re.search(r"\d", t)) for t in texts) >= 20
    for text in texts:
        digits, placeholders = Counter(re.findall(r"\d+", text)), placeholder.findall(text)
        for operation in OPERATIONS:
            for seed in (0, 1):
                out = augment(text, language="en", operation=operation, seed=seed, rate=0.3)
                assert Counter(re.findall(r"\d+", out)) == digits, (text, out)
                assert placeholder.findall(out) == placeholders, (text, out)
