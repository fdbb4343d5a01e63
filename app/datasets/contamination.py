"""The contamination check: which eval items of a version have a near-duplicate among its
training items, before anyone trains on them.

Candidates come from the near-duplicate index (``neardup_keys``): items that share a band key.
The work is bounded whatever the data looks like. Only the eval items' keys are looked up, through
the ``(project_id, band, key)`` index: first how many items hold each key (counted in the index),
then the holders of the keys most items do not share, and, of a key shared by many, the holders
in id order only until ``BUCKET_LIMIT`` training items are found: a key shared by more training
items than that contributes only the first of them (by id). Each eval item then compares its
``CANDIDATES_PER_ITEM`` candidates that share the most bands, by exact shingle Jaccard. On
templated data, where thousands of items share every key, that is what keeps the check linear;
the report counts the eval items whose candidates were cut, so the bound is never silent.
Eval items with the same keys share one ranking.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core import neardup
from app.models import DatasetVersionItem, ItemRevision, NearDupKey

THRESHOLD = 0.5
BUCKET_LIMIT = 32  # training items read per shared key
CANDIDATES_PER_ITEM = 16  # candidates compared exactly per eval item
# Keys per IN (...) list; well under SQLite's and PostgreSQL's bound-parameter limits.
KEYS_PER_QUERY = 500
# A key held by more items than this is read a page at a time, in id order, until its bucket
# is full; the holders of any other key are read at once.
HOT_KEY = 256


@dataclass
class Report:
    """Per contaminated eval item, its closest training item; and what the bounds cut."""

    bucket_limit: int
    candidates_per_item: int
    found: list[dict[str, Any]] = field(default_factory=list)
    eval_items: int = 0
    capped_eval_items: int = 0
    compared: int = 0  # exact comparisons made

    def summary(self) -> dict[str, int]:
        return {
            "eval_items": self.eval_items,
            "contaminated": len(self.found),
            "capped_eval_items": self.capped_eval_items,
            "bucket_limit": self.bucket_limit,
            "candidates_per_item": self.candidates_per_item,
        }


def check(
    session: Session,
    *,
    version_id: int,
    project_id: int,
    bucket_limit: int = BUCKET_LIMIT,
    candidates_per_item: int = CANDIDATES_PER_ITEM,
    hot_key: int = HOT_KEY,
    snapshots: Mapping[int, dict[str, Any]] | None = None,
) -> Report:
    """Near-duplicates across the version's train and eval splits (see the module's text).
    ``snapshots`` (item id → pinned content), when the caller holds them, spare reading them
    again."""
    splits = dict(
        session.execute(
            select(DatasetVersionItem.item_id, DatasetVersionItem.split).where(
                DatasetVersionItem.version_id == version_id
            )
        ).all()
    )
    report = Report(
        bucket_limit=bucket_limit,
        candidates_per_item=candidates_per_item,
        eval_items=sum(1 for s in splits.values() if s == "eval"),
    )
    if not report.eval_items or report.eval_items == len(splits):
        return report
    keys_of, buckets, capped = _buckets(
        session, project_id, version_id, splits, bucket_limit, hot_key
    )
    ranked: dict[tuple[int, ...], tuple[list[int], bool]] = {}
    wanted: dict[int, list[int]] = {}
    for eval_id, keys in keys_of.items():
        signature = tuple(keys)
        if signature not in ranked:
            ranked[signature] = _rank(keys, buckets, capped, candidates_per_item)
        candidates, cut = ranked[signature]
        report.capped_eval_items += cut
        if candidates:
            wanted[eval_id] = candidates
    if not wanted:
        return report
    needed = {i for c in wanted.values() for i in c} | set(wanted)
    shingles = (
        {i: _shingles_of(snapshots[i]) for i in needed}
        if snapshots is not None
        else _shingles(session, version_id, needed)
    )
    for eval_id, candidates in wanted.items():
        mine = shingles[eval_id]
        scores = [(neardup.exact_jaccard(mine, shingles[t]), t) for t in candidates]
        report.compared += len(scores)
        matches = [(score, t) for score, t in scores if score >= THRESHOLD]
        if matches:
            score, train_id = max(matches, key=lambda m: (m[0], -m[1]))
            report.found.append(
                {
                    "eval_item": eval_id,
                    "train_item": train_id,
                    "similarity": round(score, 3),
                    "matches": len(matches),
                }
            )
    report.found.sort(key=lambda r: (-r["similarity"], r["eval_item"]))
    return report


def _buckets(
    session: Session,
    project_id: int,
    version_id: int,
    splits: dict[int, str],
    limit: int,
    hot_key: int,
) -> tuple[dict[int, list[tuple[int, int]]], dict[tuple[int, int], list[int]], set]:
    """Each eval item's (band, key) pairs, the training items under each of those keys (at
    most ``limit``, lowest ids first) and the keys that had more."""
    keys_of: dict[int, list[tuple[int, int]]] = defaultdict(list)
    rows = session.execute(
        select(NearDupKey.item_id, NearDupKey.band, NearDupKey.key)
        .join(DatasetVersionItem, DatasetVersionItem.item_id == NearDupKey.item_id)
        .where(DatasetVersionItem.version_id == version_id, DatasetVersionItem.split == "eval")
    )
    wanted: dict[int, set[int]] = defaultdict(set)
    for item_id, band, key in rows:
        keys_of[item_id].append((band, key))
        wanted[band].add(key)
    for keys in keys_of.values():
        keys.sort()
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    capped: set[tuple[int, int]] = set()
    for band, keys in sorted(wanted.items()):
        hot: list[int] = []
        cold: list[int] = []
        for chunk in _chunks(sorted(keys)):
            held = session.execute(
                select(NearDupKey.key, func.count())
                .where(
                    NearDupKey.project_id == project_id,
                    NearDupKey.band == band,
                    NearDupKey.key.in_(chunk),
                )
                .group_by(NearDupKey.key)
            )
            for key, holders in held:
                if holders > 1:  # held by the eval item alone: no candidate
                    (hot if holders > hot_key else cold).append(key)
        for chunk in _chunks(cold):
            for item_id, key in session.execute(
                select(NearDupKey.item_id, NearDupKey.key).where(
                    NearDupKey.project_id == project_id,
                    NearDupKey.band == band,
                    NearDupKey.key.in_(chunk),
                )
            ):
                if splits.get(item_id) == "train":
                    buckets[(band, key)].append(item_id)
        for key in hot:
            buckets[(band, key)] = _first_trained(
                session, project_id, band, key, splits, limit, hot_key
            )
    for key, bucket in buckets.items():
        if len(bucket) > limit:
            bucket.sort()
            del bucket[limit:]
            capped.add(key)
    return keys_of, buckets, capped


def _first_trained(
    session: Session,
    project_id: int,
    band: int,
    key: int,
    splits: dict[int, str],
    limit: int,
    page_size: int,
) -> list[int]:
    """The training items holding a widely shared key, in id order: ``limit`` + 1 at most
    (one more than the bucket keeps, so the caller knows it was cut)."""
    found: list[int] = []
    after = -1
    while len(found) <= limit:
        page = session.scalars(
            select(NearDupKey.item_id)
            .where(
                NearDupKey.project_id == project_id,
                NearDupKey.band == band,
                NearDupKey.key == key,
                NearDupKey.item_id > after,
            )
            .order_by(NearDupKey.item_id)
            .limit(page_size)
        ).all()
        if not page:
            break
        found.extend(i for i in page if splits.get(i) == "train")
        after = page[-1]
    return found[: limit + 1]


def _chunks(values: list[int]):
    for start in range(0, len(values), KEYS_PER_QUERY):
        yield values[start : start + KEYS_PER_QUERY]


def _rank(
    keys: list[tuple[int, int]],
    buckets: dict[tuple[int, int], list[int]],
    capped: set,
    limit: int,
) -> tuple[list[int], bool]:
    """The training items sharing the most bands with these keys (ties: lowest id), at most
    ``limit``; and whether a bound cut any candidate."""
    shared: Counter[int] = Counter()
    for key in keys:
        shared.update(buckets.get(key, ()))
    ordered = sorted(shared, key=lambda t: (-shared[t], t))
    cut = len(ordered) > limit or any(key in capped for key in keys)
    return ordered[:limit], cut


def _shingles(session: Session, version_id: int, ids: set[int]) -> dict[int, set[str]]:
    """The pinned revision's shingles for each of these items of the version."""
    found: dict[int, set[str]] = {}
    chosen = sorted(ids)
    for start in range(0, len(chosen), 1000):
        rows = session.execute(
            select(DatasetVersionItem.item_id, ItemRevision.snapshot)
            .join(ItemRevision, ItemRevision.id == DatasetVersionItem.revision_id)
            .where(
                DatasetVersionItem.version_id == version_id,
                DatasetVersionItem.item_id.in_(chosen[start : start + 1000]),
            )
        )
        for item_id, snap in rows:
            found[item_id] = _shingles_of(snap)
    return found


def _shingles_of(snap: dict[str, Any]) -> set[str]:
    return neardup.grams(
        neardup.item_text(
            snap["instruction"],
            snap.get("input", ""),
            snap.get("output", ""),
            snap.get("demos") or [],
            system=snap.get("system", ""),
            turns=snap.get("turns") or [],
            rejected=snap.get("rejected", ""),
        )
    )
