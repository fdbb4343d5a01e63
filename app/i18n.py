"""Translations: English source strings, Simplified Chinese catalog (Babel)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from app.paths import LOCALES

LANGUAGES = {"en": "English", "zh": "中文"}
_locale: ContextVar[str] = ContextVar("studio_locale", default="en")


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


@cache
def translations(lang: str) -> NullTranslations:
    """Compile the .po catalog in memory, so no build step can leave a stale .mo."""
    path = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not path.exists():
        return NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf)


@contextmanager
def use_locale(lang: str) -> Iterator[None]:
    token = _locale.set(lang if lang in LANGUAGES else "en")
    try:
        yield
    finally:
        _locale.reset(token)


def current_locale() -> str:
    return _locale.get()


def gettext(message: str, **params: object) -> str:
    text = translations(_locale.get()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    text = translations(_locale.get()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


_ = gettext
