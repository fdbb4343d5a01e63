"""Numbers typed into the generation and try forms."""

from __future__ import annotations

from typing import Any

from app.db import MAX_INTEGER


def whole(value: Any) -> int | None:
    """``value`` as a whole number a column can hold, or None (not ASCII digits, too big)."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if number <= MAX_INTEGER else None
