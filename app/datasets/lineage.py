"""The contamination check for model-made training items: an augmented item made from an eval
item (or from an item made from one, however many steps back) is the eval item in other words,
and a generated or augmented instruction within ROUGE-L 0.7 of an eval instruction (the
Self-Instruct novelty threshold) is too close to it, even where their texts share too few
shingles for the near-duplicate check to see it. Each finding names the eval item, the
training item, a similarity and how it was found (``via``: 'source' or 'instruction')."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
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
    rows = session.execute(
        select(DatasetVersionItem.item_id, DatasetVersionItem.split, Item.origin)
        .join(Item, Item.id == DatasetVersionItem.item_id)
        .where(DatasetVersionItem.version_id == version_id)
    ).all()
    eval_ids = sorted(i for i, split, _ in rows if split == "eval")
    made = sorted(i for i, split, origin in rows if split == "train" and origin in MADE_BY_MODELS)
    if not eval_ids or not made:
        return []
    sources = _sources(session, project_id)
    wanted = set(eval_ids)
    index = selfinstruct.SimilarityIndex(
        str(snapshots[i].get("instruction") or "") for i in eval_ids
    )
    found = []
    for train_id in made:
        origin = _origin_in(train_id, sources, wanted)
        if origin is not None:
            found.append(_finding(origin, train_id, 1.0, "source"))
            continue
        instruction = str(snapshots[train_id].get("instruction") or "")
        if not instruction.strip():
            continue
        score, at = index.max_rouge_l(instruction)
        if at is not None and score >= selfinstruct.ROUGE_L_THRESHOLD:
            found.append(_finding(eval_ids[at], train_id, score, "instruction"))
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


def _origin_in(item_id: int, sources: Mapping[int, int], wanted: set[int]) -> int | None:
    """The first item up ``item_id``'s chain of sources that is in ``wanted``."""
    current = item_id
    for _ in range(MAX_STEPS):
        current = sources.get(current)
        if current is None:
            return None
        if current in wanted:
            return current
    return None


def _finding(eval_id: int, train_id: int, similarity: float, via: str) -> dict[str, Any]:
    return {
        "eval_item": eval_id,
        "train_item": train_id,
        "similarity": round(similarity, 3),
        "matches": 1,
        "via": via,
    }
