"""Generation prompts in English and Chinese, the back-translation pivot and reply cleaning."""

from __future__ import annotations

import pytest

from app.core.generation_prompts import (
    UnsupportedLanguage,
    back_translation_pivot,
    clean_reply,
    generation_language,
    paraphrase_messages,
    translate_messages,
)
from app.core.prompts import render_text


class TestLanguages:
    @pytest.mark.parametrize(
        ("language", "code"),
        [("en", "en"), ("en-GB", "en"), ("EN_us", "en"), ("zh", "zh"), ("zh-CN", "zh")],
    )
    def test_generation_language(self, language, code):
        assert generation_language(language) == code

    @pytest.mark.parametrize("language", ["fr", "english", "", "de-DE"])
    def test_others_are_refused_with_a_sentence(self, language):
        with pytest.raises(UnsupportedLanguage) as raised:
            generation_language(language)
        assert raised.value.language == language
        assert (
            str(raised.value) == f"Generation works in English and Chinese; {language} is neither."
        )

    def test_pivot(self):
        assert back_translation_pivot("en") == "zh"
        assert back_translation_pivot("zh-TW") == "en"
        with pytest.raises(UnsupportedLanguage, match="ja is neither"):
            back_translation_pivot("ja")


class TestParaphrase:
    def test_english(self):
        messages = paraphrase_messages("Summarise {article} in 3 sentences.", language="en")
        assert [m["role"] for m in messages] == ["user"]
        content = messages[0]["content"]
        assert content.startswith("Rewrite the instruction below in different words.")
        assert (
            "Keep placeholders" in content
            and "Answer with the rewritten instruction only." in content
        )
        assert content.endswith("\n\nInstruction:\nSummarise {article} in 3 sentences.")

    def test_chinese(self):
        messages = paraphrase_messages("用三句话概括{文章}。", language="zh-CN")
        content = messages[0]["content"]
        assert content.startswith("请用不同的说法改写下面的指令")
        assert "只回答改写后的指令。" in content
        assert content.endswith("\n\n指令：\n用三句话概括{文章}。")

    def test_renders_under_the_default_template(self):
        text = render_text(
            paraphrase_messages("Say hi.", language="en"), add_generation_prompt=True
        )
        assert text.startswith("<|user|>\nRewrite") and text.endswith("Say hi.\n<|assistant|>\n")


class TestTranslate:
    def test_english_to_chinese_asks_in_chinese(self):
        messages = translate_messages("List three fruits.", source="en", target="zh")
        assert messages == [
            {
                "role": "user",
                "content": "把下面的英文翻译成中文。"
                "占位符（如 {name} 或 <text>）、数字和代码保持原样。只回答译文。"
                "\n\n英文：\nList three fruits.",
            }
        ]

    def test_chinese_to_english_asks_in_english(self):
        content = translate_messages("列出三种水果。", source="zh-CN", target="en-US")[0]["content"]
        assert content.startswith("Translate the Chinese text below into English.")
        assert "Answer with the translation only." in content
        assert content.endswith("\n\nChinese text:\n列出三种水果。")

    def test_one_language_is_refused(self):
        with pytest.raises(UnsupportedLanguage, match="both are zh"):
            translate_messages("你好", source="zh", target="zh-CN")
        with pytest.raises(UnsupportedLanguage, match="fr is neither"):
            translate_messages("Bonjour", source="fr", target="en")


class TestCleanReply:
    @pytest.mark.parametrize(
        ("reply", "clean"),
        [
            ("  List three fruits.  \n", "List three fruits."),
            ("Paraphrase: List three fruits.", "List three fruits."),
            ("Rewritten instruction: Name three fruits.", "Name three fruits."),
            ("**Rewritten instruction:** Name three fruits.", "Name three fruits."),
            ("translation：列出三种水果。", "列出三种水果。"),
            ("Translation:\n\nList three fruits.", "List three fruits."),
            ("改写：请列出三种水果。", "请列出三种水果。"),
            ("翻译：列出三种水果。", "列出三种水果。"),
            ('"Name three fruits."', "Name three fruits."),
            ("“Name three fruits.”", "Name three fruits."),
            ("「列出三种水果。」", "列出三种水果。"),
            ('Paraphrase: "Name three fruits."', "Name three fruits."),
            (
                "Sure! Here is the rewritten instruction:\n\nName three fruits.",
                "Name three fruits.",
            ),
            ("以下是改写后的指令：\n请列出三种水果。", "请列出三种水果。"),
            # Left alone: quotes that are not around the whole text, and an instruction that
            # merely starts like a preamble or a label.
            ('"Hi" and "bye" are greetings.', '"Hi" and "bye" are greetings.'),
            ("Here is a list:\n3, 1, 2. Sort it.", "Here is a list:\n3, 1, 2. Sort it."),
            (
                "Translation of idioms is hard: explain why.",
                "Translation of idioms is hard: explain why.",
            ),
            ("", ""),
        ],
    )
    def test_cases(self, reply, clean):
        assert clean_reply(reply) == clean

    def test_quotes_stay_when_the_original_was_quoted(self):
        assert clean_reply('Translation: "你好"', original='"Hello"') == '"你好"'
        assert clean_reply('Translation: "你好"', original="Hello") == "你好"
