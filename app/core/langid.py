"""Language of a text: Chinese when CJK characters dominate, else langdetect (offline)."""

from __future__ import annotations

from langdetect import DetectorFactory, LangDetectException, detect

from app.core.cjk import CJK_CHAR

DetectorFactory.seed = 0  # langdetect is random by default; keep answers stable


def detect_language(text: str, default: str = "en") -> str:
    """``zh`` or ``en`` (the UI languages), or another ISO 639-1 code langdetect finds."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return default
    cjk = sum(1 for c in letters if CJK_CHAR.match(c))
    if cjk / len(letters) >= 0.3:
        return "zh"
    try:
        code = detect(text)
    except LangDetectException:
        return default
    return "zh" if code.startswith("zh") else code
