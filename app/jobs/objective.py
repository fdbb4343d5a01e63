"""What a job learns from: supervised fine-tuning reads every pinned item but the preference
pairs, DPO reads the pairs only. A version that holds none of what the objective reads is
refused before the job is queued, with a sentence that says what to do instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.kinds import ItemKind
from app.errors import InvalidInput
from app.i18n import N_
from app.models import DatasetVersion, DatasetVersionItem

PAIR = ItemKind.preference.value
OBJECTIVES = {"sft": N_("SFT"), "dpo": N_("DPO")}


class Refusal(InvalidInput):
    """A launch refused because of one field of the form (``field``): the sentence says why.
    The API answers the sentence itself; the form shows it and marks the field."""

    def __init__(self, message: str, /, *, field: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.field = field


@dataclass(frozen=True)
class Contents:
    """A version's training material by objective: SFT items (every kind but pairs) and
    preference pairs, per split."""

    train_items: int
    eval_items: int
    train_pairs: int
    eval_pairs: int

    @property
    def pairs(self) -> int:
        return self.train_pairs + self.eval_pairs

    def train_for(self, objective: str) -> int:
        """What one epoch of ``objective`` passes over: pairs for DPO, SFT items for SFT."""
        return self.train_pairs if objective == "dpo" else self.train_items

    def eval_for(self, objective: str) -> int:
        return self.eval_pairs if objective == "dpo" else self.eval_items


def contents(session: Session, version: DatasetVersion) -> Contents:
    """The pairs counted from the pinned items' kinds (each pin records its revision's kind),
    the rest from the version's split counts: one indexed count over the version's pins."""
    pairs = dict(
        session.execute(
            select(DatasetVersionItem.split, func.count())
            .where(DatasetVersionItem.version_id == version.id, DatasetVersionItem.kind == PAIR)
            .group_by(DatasetVersionItem.split)
        ).all()
    )
    train_pairs, eval_pairs = pairs.get("train", 0), pairs.get("eval", 0)
    return Contents(
        train_items=version.train_count - train_pairs,
        eval_items=version.eval_count - eval_pairs,
        train_pairs=train_pairs,
        eval_pairs=eval_pairs,
    )


def refusal(version: DatasetVersion, found: Contents, objective: str) -> Refusal | None:
    """Why ``objective`` cannot train on ``version``, or None when it can."""
    if objective == "dpo":
        if found.train_pairs:
            return None
        if found.eval_pairs:
            return Refusal(
                N_(
                    "Dataset version %(name)s holds preference pairs only in its eval split; "
                    "DPO learns from training pairs. Freeze a version with a smaller eval share."
                ),
                field="objective",
                name=version.name,
            )
        return Refusal(
            N_(
                "Dataset version %(name)s holds no preference pairs; DPO learns from pairs. Make "
                "pairs from an evaluation round or write them, then freeze a new version."
            ),
            field="objective",
            name=version.name,
        )
    if found.train_items:
        return None
    if found.train_pairs:
        return Refusal(
            N_(
                "Dataset version %(name)s holds only preference pairs; supervised fine-tuning "
                "leaves pairs out. Choose DPO, or freeze a version with instruction items."
            ),
            field="objective",
            name=version.name,
        )
    return Refusal(N_("This dataset version has no training items."), field="dataset_version_id")


def pairs_in_statistics(stats: dict[str, Any] | None) -> int | None:
    """The pairs a version's statistics count, or None before they are computed (the launch
    form's list; the chosen version is counted exactly by :func:`contents`)."""
    kinds = ((stats or {}).get("counts") or {}).get("kind")
    return int(kinds.get(PAIR) or 0) if isinstance(kinds, dict) else None
