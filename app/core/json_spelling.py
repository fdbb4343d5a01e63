"""Which values orjson writes byte for byte as ``json.dumps`` does (sorted keys, no spaces,
non-ASCII kept), so that a hash over either text is the same: the content hash is taken over
the standard library's spelling, and an import takes it through orjson, at half the cost."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_SPELT_ALIKE = frozenset({str, bool, int, type(None)})  # scalars both write alike


def spelt_alike(value: Any) -> bool:
    """Whether orjson spells ``value`` as ``json.dumps`` does: strings, booleans, null and
    integers, in lists and string-keyed objects. Floats are left out: the two write some
    differently (1e-05 and 0.00001)."""
    kind = value.__class__
    if kind is dict:
        return all(key.__class__ is str for key in value) and _all_alike(value.values())
    if kind is list:
        return _all_alike(value)
    return kind in _SPELT_ALIKE


def _all_alike(values: Iterable[Any]) -> bool:
    # Scalars are told apart here, without a call each: an import asks this of every row.
    for item in values:
        if item.__class__ not in _SPELT_ALIKE and not spelt_alike(item):
            return False
    return True
