"""CJK-aware text helpers shared by constraints and metrics (design §5).

Each CJK ideograph, Hiragana or Katakana character counts as one word (and one
token for metrics); the rest of the text counts as runs of ``\\w+`` after the
CJK characters are removed, as IFEval does.
"""

from __future__ import annotations

import re

# U+3040–30FF (Hiragana, Katakana), U+3400–4DBF (Ext A), U+4E00–9FFF (Unified),
# U+F900–FAFF (Compatibility), U+20000–2FA1F (Ext B and later, Compat Supplement).
CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
CJK_CHAR = re.compile(f"[{CJK_CLASS}]")
_WORD = re.compile(r"\w+")
# One CJK character, or a run of other word characters: the words of split_words in one scan.
_WORD_OR_CJK = re.compile(f"[{CJK_CLASS}]|[^\\W{CJK_CLASS}]+")


def has_cjk(text: str) -> bool:
    """True when the text holds at least one CJK character."""
    return CJK_CHAR.search(text) is not None


def split_words(text: str) -> list[str]:
    """Words in order of appearance: each CJK character alone, other runs of ``\\w+``."""
    return _WORD_OR_CJK.findall(text)


def first_word(text: str) -> str | None:
    """``split_words(text)[0]``, found without splitting the rest of the text."""
    found = _WORD_OR_CJK.search(text)
    return found.group() if found else None


def count_words(text: str) -> int:
    """Word count of design §5: ``这是一个测试。`` → 6, ``One, two; three-four!`` → 4."""
    cjk = len(CJK_CHAR.findall(text))
    return cjk + len(_WORD.findall(CJK_CHAR.sub(" ", text)))
