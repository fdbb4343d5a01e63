"""The two languages augmentation supports, each with its synonyms and its way to find words."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from app.core.constraints.base import N_

from . import stopwords
from .cilin import chinese_cilin
from .errors import AugmentError
from .protect import PROTECTED_SPAN, Protected
from .wordnet import english_synonyms

SUPPORTED = ("en", "zh")
UNSUPPORTED = N_(
    "Augmentation works on English and Chinese text only; this text's language is %(language)s."
)
# Shortest word replaced or inserted: one-letter English words and single Chinese characters
# have too many unrelated senses in either thesaurus (的 → 不容置疑).
MIN_LENGTH = 2


@dataclass(frozen=True)
class Language:
    code: str
    synonyms: Mapping[str, tuple[str, ...]]
    stopwords: frozenset[str]
    joiner: str  # between an inserted word and its neighbour
    segment: Callable[[str], list[str]] | None  # splits a CJK run into words

    def options(self, word: str, protected: Protected) -> list[str]:
        """The synonyms ``word`` may become: none for a function word; never a kept word (a
        number, a negation, a protected word) nor one holding protected text, so augmentation
        adds none."""
        key = word.lower()
        if len(key) < MIN_LENGTH or key in self.stopwords:
            return []
        return [
            s
            for s in self.synonyms.get(key, ())
            if len(s) >= MIN_LENGTH
            and s not in self.stopwords
            and not protected.keeps(s)
            and not protected.holds(s)
            and not PROTECTED_SPAN.search(s)
        ]


def normalise(language: str) -> str:
    """``en`` or ``zh`` for a supported code (``zh-CN`` is ``zh``), else ``AugmentError``."""
    code = (language or "").strip().replace("_", "-").split("-")[0].lower()
    if code not in SUPPORTED:
        raise AugmentError(UNSUPPORTED, language=language or "unknown")
    return code


def get(language: str) -> Language:
    """The language's lexicon, loaded on first use (``AugmentError`` when it is missing)."""
    return _english() if normalise(language) == "en" else _chinese()


def ensure(language: str) -> str:
    """``en`` or ``zh`` with its thesaurus loaded, so a form can refuse before a job starts
    (``AugmentError`` for another language or a thesaurus not installed)."""
    return get(language).code


@functools.cache
def _english() -> Language:
    return Language("en", english_synonyms(), stopwords.ENGLISH, " ", None)


@functools.cache
def _chinese() -> Language:
    cilin = chinese_cilin()
    segment = functools.partial(
        forward_maximum_matching, vocabulary=cilin.vocabulary, longest=cilin.longest_word
    )
    return Language("zh", cilin.synonyms, stopwords.CHINESE, "", segment)


def forward_maximum_matching(run: str, *, vocabulary: Collection[str], longest: int) -> list[str]:
    """Split a run of CJK characters into the longest vocabulary words from the left; a
    character that starts no word of two or more stands alone."""
    words, i = [], 0
    while i < len(run):
        size = min(longest, len(run) - i)
        while size > 1 and run[i : i + size] not in vocabulary:
            size -= 1
        words.append(run[i : i + max(size, 1)])
        i += max(size, 1)
    return words
