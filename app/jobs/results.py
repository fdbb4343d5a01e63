"""What a finished job learned: metrics overall and per kind (base against tuned), the eval
items side by side with their constraint verdicts, the sample of training prompts ("seen")
beside them, and several jobs compared.

A job's predictions are of two splits: ``'eval'``, the held-out prompts every result, round
and comparison is about, and ``'train'``, the seen sample, which shows what a job learned and
not how it generalises: only the results page's and the API's seen section read those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import constraints
from app.core.metrics import aggregate
from app.i18n import N_
from app.models import DatasetVersionItem, EvalPrediction, ItemRevision, Job

# Scores every prediction carries, once per side (base_…, tuned_…), in display order.
SCORES = {
    "exact_match": N_("Exact match"),
    "precision": N_("Token precision"),
    "recall": N_("Token recall"),
    "f1": N_("Token F1"),
    "rouge_l": N_("ROUGE-L"),
    "constraints_passed": N_("Constraints passed"),
    "prompt_passed": N_("Prompts with every constraint passed"),
}
FILTERS = {
    "": N_("All eval items"),
    "broken": N_("Tuned output breaks a constraint"),
    "worse": N_("Tuned is worse than base (F1)"),
    "better": N_("Tuned is better than base (F1)"),
    "wrong": N_("Tuned output is not an exact match"),
}
SORTS = {
    "item": N_("Item"),
    "tuned_f1": N_("Tuned F1, lowest first"),
    "delta_f1": N_("F1 change, worst first"),
    "tuned_rouge_l": N_("Tuned ROUGE-L, lowest first"),
}


@dataclass(frozen=True)
class Row:
    metric: str
    base: float | None
    tuned: float | None

    @property
    def delta(self) -> float | None:
        if self.base is None or self.tuned is None:
            return None
        return self.tuned - self.base


def table(predictions: list[EvalPrediction]) -> list[Row]:
    means = aggregate([p.scores for p in predictions])
    return [
        Row(name, means.get(f"base_{name}"), means.get(f"tuned_{name}"))
        for name in SCORES
        if f"base_{name}" in means or f"tuned_{name}" in means
    ]


HELD_OUT, SEEN = "eval", "train"


def predictions_of(session: Session, job_id: int, split: str = HELD_OUT) -> list[EvalPrediction]:
    """A job's predictions of one split: the held-out prompts unless told (``SEEN``)."""
    return list(
        session.scalars(
            select(EvalPrediction)
            .where(EvalPrediction.job_id == job_id, EvalPrediction.split == split)
            .order_by(EvalPrediction.id)
        )
    )


@dataclass(frozen=True)
class Seen:
    """The seen sample of a job: its predictions by item, their metrics table (the held-out
    one's columns) and the job's reported figures on it (``seen``)."""

    predictions: list[EvalPrediction]
    table: list[Row]
    figures: dict[str, float | None]
    marks: dict[int, list[Mark]]


def seen_section(session: Session, job: Job) -> Seen:
    """What the results page and the API show of the prompts the job was tuned on."""
    found = sorted(predictions_of(session, job.id, SEEN), key=lambda p: p.item_id)
    return Seen(
        predictions=found,
        table=table(found),
        figures=seen(job),
        marks=constraint_marks(session, job.dataset_version_id, found),
    )


def by_kind(predictions: list[EvalPrediction]) -> dict[str, list[Row]]:
    kinds: dict[str, list[EvalPrediction]] = {}
    for p in predictions:
        kinds.setdefault(p.kind, []).append(p)
    return {kind: table(rows) for kind, rows in sorted(kinds.items())}


def headline(job: Job) -> dict[str, float | None]:
    """The figures a job list shows: eval loss, perplexity and tuned F1 / ROUGE-L, and the
    starting model's eval loss and perplexity beside them. A DPO job's eval loss is its DPO
    loss on the eval pairs, which has no perplexity."""
    m = job.metrics or {}
    sft = _sft(job)
    # A worker's metrics may hold a nested figure (``Completion`` allows it): only numbers show.
    eval_loss, base_loss = _figure(m.get("eval_loss")), _figure(m.get("base_eval_loss"))
    return {
        "eval_loss": eval_loss,
        "perplexity": perplexity(eval_loss) if sft else None,
        "base_eval_loss": base_loss,
        "base_perplexity": perplexity(base_loss) if sft else None,
        "tuned_f1": _figure(m.get("tuned_f1")),
        "tuned_rouge_l": _figure(m.get("tuned_rouge_l")),
        "tuned_exact_match": _figure(m.get("tuned_exact_match")),
    }


def _sft(job: Job) -> bool:
    return (job.params or {}).get("objective", "sft") != "dpo"


def perplexity(loss: Any) -> float | None:
    """exp(loss) of a mean loss per token; none for no loss, or one too large to mean much."""
    if isinstance(loss, bool) or not isinstance(loss, int | float) or not loss < 50:
        return None
    return math.exp(loss)


# What a job reports on its seen sample when it completes: both models' mean scores, and
# (SFT) both models' mean loss per answer token.
SEEN_FIGURES = tuple(
    f"seen_{side}_{name}"
    for side in ("base", "tuned")
    for name in ("exact_match", "f1", "rouge_l", "loss")
)


def seen(job: Job) -> dict[str, float | None]:
    """The seen sample's figures as the worker reported them, with the perplexity of each
    model's seen loss (SFT)."""
    m = job.metrics or {}
    found = {name: _figure(m.get(name)) for name in SEEN_FIGURES}
    for side in ("base", "tuned"):
        loss = found[f"seen_{side}_loss"]
        found[f"seen_{side}_perplexity"] = perplexity(loss) if _sft(job) else None
    return found


# What a DPO job reports on its eval pairs when it completes (the metric names' contract):
# how often, and by how much, the starting and the tuned model give the chosen response the
# higher summed log-probability, and the tuned model's implicit rewards against the reference.
PREFERENCE_FIGURES = (
    "start_pair_accuracy",
    "start_pair_margin",
    "tuned_pair_accuracy",
    "tuned_pair_margin",
    "eval_reward_accuracy",
    "eval_reward_margin",
    "pairs_train",
    "pairs_eval",
)


def _figure(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def preference(job: Job) -> dict[str, float | None] | None:
    """A DPO job's figures on its eval pairs (None for a job that reported none of them)."""
    m = job.metrics or {}
    found = {name: _figure(m.get(name)) for name in PREFERENCE_FIGURES}
    return found if any(v is not None for v in found.values()) else None


def _score(p: EvalPrediction, key: str) -> float:
    value = p.scores.get(key)
    return float(value) if value is not None else math.inf


def select_predictions(
    predictions: list[EvalPrediction], *, show: str = "", kind: str = "", sort: str = "item"
) -> list[EvalPrediction]:
    """Filter and sort eval items for the results table."""
    rows = [p for p in predictions if not kind or p.kind == kind]
    if show == "broken":
        rows = [p for p in rows if _score(p, "tuned_constraints_passed") < 1.0]
    elif show in ("worse", "better"):
        sign = -1 if show == "worse" else 1
        rows = [
            p for p in rows if sign * (p.scores.get("tuned_f1", 0) - p.scores.get("base_f1", 0)) > 0
        ]
    elif show == "wrong":
        rows = [p for p in rows if not p.scores.get("tuned_exact_match")]
    if sort == "delta_f1":
        rows.sort(key=lambda p: (p.scores.get("tuned_f1", 0) - p.scores.get("base_f1", 0), p.id))
    elif sort in ("tuned_f1", "tuned_rouge_l"):
        rows.sort(key=lambda p: (_score(p, sort), p.id))
    else:
        rows.sort(key=lambda p: p.item_id)
    return rows


@dataclass(frozen=True)
class Mark:
    """One constraint of an eval item, checked on the base and on the tuned output."""

    id: str
    label: dict[str, str]
    base: bool
    tuned: bool
    message: str
    args: dict[str, Any]


def constraint_marks(
    session: Session, version_id: int, rows: list[EvalPrediction]
) -> dict[int, list[Mark]]:
    """Per eval item, each of its constraints checked on the base and the tuned output."""
    snapshots = snapshots_of(session, version_id, [p.item_id for p in rows])
    marks: dict[int, list[Mark]] = {}
    for p in rows:
        refs = (snapshots.get(p.item_id) or {}).get("constraints") or []
        if not refs:
            continue
        try:
            base = constraints.check_all(refs, p.base_output)
            tuned = constraints.check_all(refs, p.tuned_output)
        except (constraints.UnknownConstraintError, constraints.ConstraintParamsError):
            continue  # pinned under an older registry; the stored scores still stand
        marks[p.item_id] = [
            Mark(
                id=ref["id"],
                label=dict(constraints.get_spec(ref["id"]).label),
                base=b.passed,
                tuned=t.passed,
                message=t.message,
                args=t.args,
            )
            for (ref, b), (_, t) in zip(base, tuned, strict=True)
        ]
    return marks


def snapshots_of(session: Session, version_id: int, item_ids: list[int]) -> dict[int, dict]:
    """The revisions a dataset version pinned for these items."""
    if not item_ids:
        return {}
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        for item_id, snapshot in session.execute(
            select(DatasetVersionItem.item_id, ItemRevision.snapshot)
            .join(ItemRevision, ItemRevision.id == DatasetVersionItem.revision_id)
            .where(DatasetVersionItem.version_id == version_id)
            .where(DatasetVersionItem.item_id.in_(chunk))
        ):
            found[item_id] = snapshot
    return found
