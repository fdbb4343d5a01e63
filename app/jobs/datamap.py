"""Training dynamics (Swayamdipta et al., 2020): each training item's mean confidence in its
reference output across epochs, the variability of that confidence, and a region.

- *ambiguous*: the model's confidence swings from epoch to epoch (high variability);
- *hard*: the model stays unsure of the reference (low confidence, low variability), which
  is where wrong or inconsistent outputs end up;
- *easy*: learned early and kept.

The cut-offs adapt to the run: a tiny model trained for two epochs is unsure of most things,
so "hard" is the least confident third, and never above 0.5; "ambiguous" is the most variable
third, and never below 0.05.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ItemDynamics

HARD_CONFIDENCE_CEILING = 0.5
AMBIGUOUS_VARIABILITY_FLOOR = 0.05
REGIONS = ("easy", "ambiguous", "hard")


@dataclass(frozen=True)
class Point:
    item_id: int
    confidence: float
    variability: float
    loss: float
    epochs: int
    region: str


@dataclass(frozen=True)
class DataMap:
    points: list[Point]
    confidence_cut: float
    variability_cut: float

    def counts(self) -> dict[str, int]:
        return {r: sum(1 for p in self.points if p.region == r) for r in REGIONS}

    def hardest(self, limit: int = 50) -> list[Point]:
        """Least confident first; ties broken by the steadier item (it is consistently wrong)."""
        return sorted(self.points, key=lambda p: (p.confidence, p.variability, p.item_id))[:limit]

    def region_of(self, item_id: int) -> str | None:
        return next((p.region for p in self.points if p.item_id == item_id), None)


def _quantile(values: list[float], q: Fraction) -> float:
    """The smallest value with at least a share q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def build(series: dict[int, list[tuple[float, float]]]) -> DataMap:
    """`series`: per item, (loss, confidence) for each epoch it was measured."""
    stats = {
        item_id: (
            statistics.fmean(c for _, c in values),
            statistics.pstdev([c for _, c in values]) if len(values) > 1 else 0.0,
            statistics.fmean(loss for loss, _ in values),
            len(values),
        )
        for item_id, values in series.items()
        if values
    }
    if not stats:
        return DataMap([], HARD_CONFIDENCE_CEILING, AMBIGUOUS_VARIABILITY_FLOOR)
    confidences = [s[0] for s in stats.values()]
    variabilities = [s[1] for s in stats.values()]
    conf_cut = min(HARD_CONFIDENCE_CEILING, _quantile(confidences, Fraction(1, 3)))
    var_cut = max(AMBIGUOUS_VARIABILITY_FLOOR, _quantile(variabilities, Fraction(2, 3)))
    points = []
    for item_id, (confidence, variability, loss, epochs) in sorted(stats.items()):
        if variability > var_cut:
            region = "ambiguous"
        elif confidence <= conf_cut:
            region = "hard"
        else:
            region = "easy"
        points.append(Point(item_id, confidence, variability, loss, epochs, region))
    return DataMap(points, conf_cut, var_cut)


def for_job(session: Session, job_id: int) -> DataMap:
    """The data map of a job (one row per item and epoch; when a resumed attempt reports an
    epoch again, its report wins)."""
    series: dict[int, dict[int, tuple[float, float]]] = {}
    rows = session.execute(
        select(ItemDynamics.item_id, ItemDynamics.epoch, ItemDynamics.loss, ItemDynamics.confidence)
        .where(ItemDynamics.job_id == job_id)
        .order_by(ItemDynamics.id)
    )
    for item_id, epoch, loss, confidence in rows:
        # A resumed attempt may report an epoch again; the later report wins.
        series.setdefault(item_id, {})[epoch] = (loss, confidence)
    return build({item: list(epochs.values()) for item, epochs in series.items()})
