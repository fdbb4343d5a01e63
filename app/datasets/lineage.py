"""The contamination check for model-made items: an item and an augmented copy of it (however
many steps apart, in either direction, or two copies of one source) are the same item in other
words, so one in the eval split and the other in the training split is contamination; and a
generated or augmented training instruction within ROUGE-L 0.7 of an eval instruction (the
Self-Instruct novelty threshold) is too close to it, even where their texts share too few
shingles for the near-duplicate check to see it. Each finding names the eval item, the
training item, a similarity and how it was found (``via``: 'source' or 'instruction')."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.core import selfinstruct
from app.models import DatasetVersionItem, Item

MADE_BY_MODELS = ("augmented", "generated")
MAX_STEPS = 20  # an augmentation chain longer than this is surely a loop


def check(
    session: Session,
    *,
    version_id: int,
    project_id: int,
    snapshots: Mapping[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    made_here = session.scalar(
        select(exists().where(Item.project_id == project_id, Item.origin.in_(MADE_BY_MODELS)))
    )
    if not made_here:
        return []  # no model-made item in the project: nothing for this check to find
    rows = session.execute(
        select(DatasetVersionItem.item_id, DatasetVersionItem.split, Item.origin)
        .join(Item, Item.id == DatasetVersionItem.item_id)
        .where(DatasetVersionItem.version_id == version_id)
    ).all()
    eval_ids = sorted(i for i, split, _ in rows if split == "eval")
    train = sorted((i, origin) for i, split, origin in rows if split == "train")
    if not eval_ids or not train:
        return []
    sources = _sources(session, project_id)
    found = _same_roots(eval_ids, train, sources)
    reported = {f["train_item"] for f in found}
    index = selfinstruct.SimilarityIndex(
        str(snapshots[i].get("instruction") or "") for i in eval_ids
    )
    for train_id, origin in train:
        if origin not in MADE_BY_MODELS or train_id in reported:
            continue
        instruction = str(snapshots[train_id].get("instruction") or "")
        if not instruction.strip():
            continue
        score, at = index.max_rouge_l(instruction)
        if at is not None and score >= selfinstruct.ROUGE_L_THRESHOLD:
            found.append(_finding(eval_ids[at], train_id, score, "instruction"))
    return found


def _same_roots(
    eval_ids: list[int], train: list[tuple[int, str]], sources: Mapping[int, int]
) -> list[dict[str, Any]]:
    """Training items that share an original with an eval item through augmentation."""
    eval_by_root: dict[int, int] = {}
    for eval_id in eval_ids:
        eval_by_root.setdefault(_root(eval_id, sources), eval_id)
    found = []
    for train_id, _origin in train:
        root = _root(train_id, sources)
        eval_id = eval_by_root.get(root)
        # Related only through augmentation: an eval item and a training item that are both
        # their own originals are different items.
        if eval_id is not None and (train_id in sources or eval_id in sources):
            found.append(_finding(eval_id, train_id, 1.0, "source"))
    return found


def _sources(session: Session, project_id: int) -> dict[int, int]:
    """Each augmented item of the project → the item it was made from."""
    rows = session.execute(
        select(Item.id, Item.provenance).where(
            Item.project_id == project_id, Item.origin == "augmented"
        )
    )
    return {
        item_id: int(p["item_id"])
        for item_id, p in rows
        if isinstance(p, dict) and isinstance(p.get("item_id"), int)
    }


def _root(item_id: int, sources: Mapping[int, int]) -> int:
    """The original ``item_id`` was made from, following its chain of sources."""
    current = item_id
    for _ in range(MAX_STEPS):
        parent = sources.get(current)
        if parent is None:
            return current
        current = parent
    return current


def _finding(eval_id: int, train_id: int, similarity: float, via: str) -> dict[str, Any]:
    return {
        "eval_item": eval_id,
        "train_item": train_id,
        "similarity": round(similarity, 3),
        "matches": 1,
        "via": via,
    }
