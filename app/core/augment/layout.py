"""A text as units (words and protected spans) with the exact text between them (gaps).

``gaps[0] + units[0] + gaps[1] + ... + units[-1] + gaps[-1]`` is the text again, so an
augmentation edits units and rebuilds the rest byte for byte: a swap exchanges two words and
leaves the punctuation where it was; a deletion takes one word and one blank gap beside it; an
insertion adds a word and a joiner (a space in English, nothing in Chinese).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from app.core.cjk import CJK_CLASS

from .protect import Protected, is_number, protected_spans

_LETTERS = rf"[^\W\d_{CJK_CLASS}]+"
# A CJK run (segmented by the language), or a word of other letters: don't, well-known.
_WORD = re.compile(rf"([{CJK_CLASS}]+)|{_LETTERS}(?:['’-]{_LETTERS})*")


@dataclass
class Unit:
    text: str
    free: bool  # a word augmentation may change; protected spans and words are not free


@dataclass
class Layout:
    units: list[Unit]
    gaps: list[str]  # one more than units: before the first, between each two, after the last
    joiner: str  # what goes between an inserted word and its neighbour

    def render(self) -> str:
        parts = [self.gaps[0]]
        for unit, gap in zip(self.units, self.gaps[1:], strict=True):
            parts += (unit.text, gap)
        return "".join(parts)

    def free(self) -> list[int]:
        """Indices of the words augmentation may change, in text order."""
        return [i for i, unit in enumerate(self.units) if unit.free]

    def insert(self, position: int, word: str) -> None:
        """A new word before ``units[position]``, or after the last unit when it is their count."""
        self.units.insert(position, Unit(word, free=True))
        if position == len(self.units) - 1:
            self.gaps.insert(position, self.joiner)  # last unit, joiner, the text's end
        else:
            self.gaps.insert(position + 1, self.joiner)  # gap before, word, joiner, next unit

    def removable_gap(self, i: int) -> int | None:
        """The gap that goes with ``units[i]`` when it is deleted, or None to keep the word.

        Only a blank gap goes, never one with more line breaks than the gap that stays, so
        punctuation and line structure survive: "Hello, world." keeps both its words.
        """
        if len(self.units) < 2:
            return None
        left, right = self.gaps[i], self.gaps[i + 1]
        take_left = _blank(left) and left.count("\n") <= right.count("\n")
        take_right = _blank(right) and right.count("\n") <= left.count("\n")
        if i == 0:  # the left gap is the text's start: a comma after it must not lead
            return i + 1 if take_right else None
        if i == len(self.units) - 1:  # the right gap is the text's end (a full stop, say)
            return i if take_left else None
        if take_left:
            return i
        return i + 1 if take_right else None

    def delete(self, i: int) -> bool:
        """Delete word ``i`` and its blank gap; False (nothing done) when it has none."""
        gap = self.removable_gap(i)
        if gap is None:
            return False
        del self.units[i]
        del self.gaps[gap]
        return True


def _blank(gap: str) -> bool:
    return not gap.strip()


def _inline_blank(gap: str) -> bool:
    return _blank(gap) and "\n" not in gap


def build(
    text: str,
    *,
    joiner: str,
    protected: Protected = Protected(),
    segment: Callable[[str], list[str]] | None = None,
) -> Layout:
    """The layout of ``text``; ``segment`` splits a CJK run into words (else it is one word)."""
    units: list[Unit] = []
    gaps: list[str] = []
    gap_start = 0

    def add(start: int, end: int, free: bool) -> None:
        nonlocal gap_start
        gaps.append(text[gap_start:start])
        units.append(Unit(text[start:end], free))
        gap_start = end

    position = 0
    for start, end in [*protected_spans(text, protected.substrings), (len(text), len(text))]:
        for match in _WORD.finditer(text, position, start):
            if match.group(1) and segment is not None:
                offset = match.start()
                for word in segment(match.group(1)):
                    # One character is kept: where the thesaurus lacks a word (修辞), matching
                    # falls back to its characters, and moving one of those breaks the word.
                    add(
                        offset,
                        offset + len(word),
                        len(word) > 1 and not protected.keeps(word),
                    )
                    offset += len(word)
            else:
                word = match.group()
                # The word after a number names what is counted: "3 paragraphs" stays so.
                unit = units[-1].text if units else ""
                after_number = is_number(unit) and _inline_blank(text[gap_start : match.start()])
                add(match.start(), match.end(), not (after_number or protected.keeps(word)))
        if start < end:
            add(start, end, False)
        position = end
    gaps.append(text[gap_start:])
    return Layout(units, gaps, joiner)
