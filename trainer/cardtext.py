"""Plain text for the model card: numbers, counts, and user text made safe for Markdown code
spans, table cells and YAML (``trainer.modelcard``)."""

from __future__ import annotations

import math
import re
import unicodedata

DASH = "—"


def number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


def fmt(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return DASH
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) >= 1e6:
        return f"{value:+.4e}" if signed else f"{value:.4e}"
    text = f"{value:+.4f}" if signed else f"{value:.4f}"
    return "0.0000" if text in ("+0.0000", "-0.0000") else text


def value_text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _plain(text: str) -> str:
    """One line of text without control characters (they could end a code span or a table)."""
    return "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else "\ufffd" if _surrogate(c) else c
        for c in text
    )


def _surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def longest_run(text: str, char: str) -> int:
    return max((len(m) for m in re.findall(f"{re.escape(char)}+", text)), default=0)


def code_span(text: str) -> str:
    """``text`` as an inline code span, which Markdown shows exactly as written."""
    text = _plain(text)
    if not text:
        return ""
    fence = "`" * (longest_run(text, "`") + 1)
    # CommonMark strips one space from each end when both ends have one; a pad keeps the text.
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table_cell(text: str) -> str:
    # A table splits rows on "|" before it parses code spans, so the pipe needs escaping.
    return code_span(text).replace("|", "\\|")


def yaml_string(text: str) -> str:
    """A YAML double-quoted scalar; anything a YAML stream may not hold is escaped."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif _surrogate(char):
            out.append("\\ufffd")
        elif code < 0x20 or 0x7F <= code <= 0x9F or code in (0xFEFF, 0xFFFE, 0xFFFF):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
