"""What a generation job asks a model, in the item's language: paraphrases and translations.

Each request is one user turn (``[{"role": "user", "content": ...}]``, the message shape of
``app.core.prompts``). No system turn: several chat templates (Gemma's among them) refuse one,
and a single user turn reads the same under every template.

The prompt wording is part of the data a job produces, so it is fixed per language here and never
goes through the UI's translations: a Chinese item gets the Chinese prompt whatever language the
person starting the job reads. A translation prompt is written in the *target* language, which
steers small models towards answering in that language.

Models often dress their answer up ("Translation: …", "改写：…", quotes around it);
:func:`clean_reply` takes that off so the reply can be stored as it is.
"""

from __future__ import annotations

import re
from typing import Literal

from app.core.constraints.base import N_
from app.core.prompts import Message, is_chinese

GenerationLanguage = Literal["en", "zh"]

UNSUPPORTED_LANGUAGE = N_("Generation works in English and Chinese; %(language)s is neither.")
SAME_LANGUAGE = N_("A translation needs two different languages; both are %(language)s.")


class UnsupportedLanguage(ValueError):
    """A language a generation job cannot use; ``message`` is a gettext id for ``language``."""

    def __init__(self, message: str, language: str) -> None:
        self.message = message
        self.language = language
        super().__init__(message % {"language": language})


def generation_language(language: str) -> GenerationLanguage:
    """``zh`` for ``zh``, ``zh-CN``, ``zh_Hant``…; ``en`` for ``en``, ``en-GB``…; else refused."""
    if is_chinese(language):
        return "zh"
    code = language.strip().lower().replace("_", "-")
    if code == "en" or code.startswith("en-"):
        return "en"
    raise UnsupportedLanguage(UNSUPPORTED_LANGUAGE, language)


def back_translation_pivot(language: str) -> GenerationLanguage:
    """The language a back-translation passes through: Chinese for English, English for Chinese."""
    return "en" if generation_language(language) == "zh" else "zh"


# --- paraphrase --------------------------------------------------------------------------------

_PARAPHRASE = {
    "en": (
        "Rewrite the instruction below in different words. Keep its meaning and every one of its "
        "requirements. Keep placeholders (such as {name} or <text>), numbers, code and words in "
        "quotes exactly as they are. Answer with the rewritten instruction only.",
        "Instruction:",
    ),
    "zh": (
        "请用不同的说法改写下面的指令，保持原意和其中的每一项要求不变。占位符（如 {name} 或 "
        "<text>）、数字、代码和引号中的文字保持原样。只回答改写后的指令。",
        "指令：",
    ),
}


def paraphrase_messages(instruction: str, *, language: str) -> list[Message]:
    """Ask for the instruction in other words, with the same meaning and requirements."""
    request, label = _PARAPHRASE[generation_language(language)]
    # Concatenated, not str.format: the instruction may hold braces of its own.
    return [{"role": "user", "content": f"{request}\n\n{label}\n{instruction}"}]


# --- translation -------------------------------------------------------------------------------

# Keyed by the target language: the request is written in the language the answer should be in.
_TRANSLATE = {
    "zh": (
        "把下面的英文翻译成中文。占位符（如 {name} 或 <text>）、数字和代码保持原样。只回答译文。",
        "英文：",
    ),
    "en": (
        "Translate the Chinese text below into English. Keep placeholders (such as {name} or "
        "<text>), numbers and code exactly as they are. Answer with the translation only.",
        "Chinese text:",
    ),
}


def translate_messages(text: str, *, source: str, target: str) -> list[Message]:
    """Ask for ``text`` translated from ``source`` into ``target`` (English ↔ Chinese)."""
    source_language, target_language = generation_language(source), generation_language(target)
    if source_language == target_language:
        raise UnsupportedLanguage(SAME_LANGUAGE, source)
    request, label = _TRANSLATE[target_language]
    return [{"role": "user", "content": f"{request}\n\n{label}\n{text}"}]


# --- replies -----------------------------------------------------------------------------------

_LABELS = (
    "paraphrase",
    "paraphrased instruction",
    "paraphrased version",
    "rewritten instruction",
    "rewritten version",
    "rewritten",
    "rewrite",
    "instruction",
    "translation",
    "translated text",
    "english translation",
    "chinese translation",
    "english",
    "chinese",
    "改写",
    "改写后",
    "改写后的指令",
    "改写结果",
    "指令",
    "翻译",
    "译文",
    "英文",
    "中文",
    "英文翻译",
    "中文翻译",
)
# Longest first, so "rewritten instruction" wins over "rewritten"; markdown bold is allowed
# around the label ("**Translation:**") because chat models like to add it.
_LABEL = re.compile(
    r"^\**\s*(?:"
    + "|".join(re.escape(label) for label in sorted(_LABELS, key=len, reverse=True))
    + r")\s*\**\s*[:：]\s*\**\s*",
    re.IGNORECASE,
)
# A line that announces the answer, such as "Sure! Here is the rewritten instruction:" or
# "以下是改写后的指令：". Only lines that name the answer go: "Here is a list:" may open an
# instruction.
_PREAMBLE = re.compile(
    r"^(?:(?:sure|certainly|of course)\b[^\n]*?[.,!]\s*)?"
    r"(?:here(?: is|'s)\b[^\n]*?\b(?:rewritten|rewrite|paraphrase|reworded|revised|translat"
    r"|new version)|(?:以下是|下面是)[^\n]*?(?:改写|翻译|译文))[^\n]*[:：]\s*\n",
    re.IGNORECASE,
)
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」", "『": "』", "`": "`"}


def clean_reply(text: str, *, original: str | None = None) -> str:
    """The model's answer without a leading label, a preamble line or quotes around all of it.

    Pass the ``original`` (the text that was paraphrased or translated) when there is one: if it
    was itself quoted all round, the reply's quotes belong to the answer and stay.
    """
    keep_quotes = original is not None and _unquote(original.strip()) != original.strip()
    previous = None
    text = text.strip()
    while text != previous:
        previous = text
        text = _PREAMBLE.sub("", text, count=1).strip()
        text = _LABEL.sub("", text, count=1).strip()
        if not keep_quotes:
            text = _unquote(text).strip()
    return text


def _unquote(text: str) -> str:
    # Only quotes around the whole text: '"Hi" and "bye"' starts and ends with one but is two
    # quotations, which the inner quote mark gives away.
    if len(text) < 2 or text[0] not in _QUOTES or text[-1] != _QUOTES[text[0]]:
        return text
    inner = text[1:-1]
    if text[0] in inner or text[-1] in inner:
        return text
    return inner
