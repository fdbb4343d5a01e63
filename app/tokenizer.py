"""Token counts in the app, with the `tokenizers` library (design §5)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tokenizers import Tokenizer

from app.config import get_settings
from app.paths import ROOT

DEFAULT_TOKENIZER = ROOT / "app" / "data" / "tokenizer.json"


@cache
def _load(path: str) -> Tokenizer | None:
    file = Path(path)
    return Tokenizer.from_file(str(file)) if file.exists() else None


def tokenizer() -> Tokenizer | None:
    configured = get_settings().tokenizer
    return _load(str(configured or DEFAULT_TOKENIZER))


def count_tokens_batch(texts: list[str]) -> list[int] | None:
    """Tokens of each text, encoded together (in parallel, by the library's own threads), or
    None when no tokenizer is available."""
    tok = tokenizer()
    if tok is None:
        return None
    return [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]


def count_tokens(text: str) -> int | None:
    """Tokens of the text, or None when no tokenizer is available."""
    tok = tokenizer()
    if tok is None:
        return None
    return len(tok.encode(text, add_special_tokens=False).ids) if text else 0
