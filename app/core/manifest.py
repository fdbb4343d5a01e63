"""Deterministic splits and the content manifest of a dataset version.

Both depend only on item content, never on ids or the database, so the same approved
items give the same split and the same SHA-256 on SQLite and PostgreSQL. The app hashes
the pinned revisions when it freezes a version; a trainer worker hashes the items it
received the same way before it trains on them (``received_hash``).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from app.core.kinds import MANIFEST_FIELDS, MANIFEST_LATER_FIELDS

if TYPE_CHECKING:
    from app.core.protocol import DatasetItem


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    if isinstance(value, dict):
        return {k: _nfc(v) for k, v in value.items()}
    return value


def manifest_line(split: str, snapshot: dict[str, Any]) -> str:
    """Canonical JSON (sorted keys, UTF-8, NFC) of one item's split and content."""
    record = {"split": split, **{f: snapshot.get(f) for f in MANIFEST_FIELDS}}
    record |= {f: snapshot[f] for f in MANIFEST_LATER_FIELDS if snapshot.get(f)}
    line = _dumps(record)
    # Most text is NFC already. When the whole line is, so is every string in it (a string's
    # characters sit in the line side by side, only ASCII punctuation escaped), and the line is
    # the canonical one: one check instead of normalising each string of the record.
    if unicodedata.is_normalized("NFC", line):
        return line
    return _dumps(_nfc(record))


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def manifest_hash(lines: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for line in sorted(lines):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def received_hash(items: Iterable[DatasetItem]) -> str:
    """The manifest hash of the items as a worker received them (split and content): the
    version's ``manifest_hash`` when nothing was lost or changed on the way."""
    return manifest_hash(
        manifest_line(item.split, item.content.model_dump(mode="json")) for item in items
    )


def split_key(seed: int, content_hash: str, tiebreak: str = "") -> str:
    return hashlib.sha256(f"{seed}:{content_hash}:{tiebreak}".encode()).hexdigest()


def assign_splits(
    entries: list[tuple[str, str, str]], *, seed: int, eval_fraction: float
) -> dict[str, str]:
    """entries: (key, kind, content_hash) → {key: "train" | "eval"}, stratified by kind.

    Within each kind, items are ordered by a seeded hash of their content and the first
    round(n × fraction) go to eval — at least one when a kind has two or more items and
    the fraction is positive, so every kind is evaluated.
    """
    by_kind: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, kind, chash in entries:
        by_kind[kind].append((split_key(seed, chash), key))
    result: dict[str, str] = {}
    for kind in sorted(by_kind):
        ordered = sorted(by_kind[kind])
        n_eval = round(len(ordered) * eval_fraction)
        if eval_fraction > 0 and n_eval == 0 and len(ordered) >= 2:
            n_eval = 1
        n_eval = min(n_eval, len(ordered) - 1) if len(ordered) > 1 else n_eval
        for index, (_hash, key) in enumerate(ordered):
            result[key] = "eval" if index < n_eval else "train"
    return result
