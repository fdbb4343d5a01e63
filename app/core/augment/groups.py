"""Synonyms as groups of interchangeable words (WordNet synsets, Cilin ``=`` groups).

A word's synonyms are the other words of every group it belongs to. They are gathered on first
lookup rather than at load: the Cilin's groups hold 575,000 word-synonym pairs, and building
them all took longer than reading the thesaurus.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping


class SynonymGroups(Mapping[str, tuple[str, ...]]):
    """word → its synonyms, sorted, the word itself left out; only words that have some."""

    def __init__(self, groups: Iterable[Iterable[str]]) -> None:
        self._groups: list[tuple[str, ...]] = []
        self._member_of: dict[str, list[int]] = {}
        for group in groups:
            words = tuple(dict.fromkeys(group))  # distinct, in order
            if len(words) < 2:
                continue
            for word in words:
                self._member_of.setdefault(word, []).append(len(self._groups))
            self._groups.append(words)
        self._found: dict[str, tuple[str, ...]] = {}

    def __getitem__(self, word: str) -> tuple[str, ...]:
        found = self._found.get(word)
        if found is None:
            indices = self._member_of[word]  # KeyError for a word in no group
            others = {w for i in indices for w in self._groups[i]}
            others.discard(word)
            found = self._found[word] = tuple(sorted(others))
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._member_of)

    def __len__(self) -> int:
        return len(self._member_of)

    def __contains__(self, word: object) -> bool:
        return word in self._member_of
