"""JSON shapes for what a job learned: its results, eval predictions, data map, and the
items sent back to review."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core import protocol
from app.db import MAX_INTEGER
from app.jobs import datamap, feedback, groups, results
from app.models import EvalPrediction, Job


def finite(value: Any) -> float | None:
    """A figure as a reportable number, else null: stored reports may hold anything."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if protocol.reportable(float(value)) else None


class MetricRow(BaseModel):
    """One score, averaged over eval items, for the base and the tuned model."""

    metric: str
    base: float | None
    tuned: float | None
    delta: float | None = Field(description="tuned − base.")

    @classmethod
    def rows(cls, table: list[results.Row]) -> list[MetricRow]:
        return [
            cls(metric=r.metric, base=finite(r.base), tuned=finite(r.tuned), delta=finite(r.delta))
            for r in table
        ]


class FellOut(BaseModel):
    """A metric whose tuned score fell for one group while it rose overall."""

    model_config = ConfigDict(from_attributes=True)

    group_by: Literal["kind", "language", "domain"]
    group: str
    metric: str
    delta: float = Field(description="tuned − base in this group: below zero.")
    overall_delta: float = Field(description="tuned − base over every eval item: above zero.")


class HumanVerdictOut(BaseModel):
    """A closed evaluation round's verdict on the tuned outputs against the base outputs."""

    round_id: int
    name: str
    wins: int = Field(description="Judgments preferring the tuned output.")
    losses: int
    ties: int = Field(description="Ties, counting 'both bad'.")
    n: int
    win_rate: float = Field(description="(wins + ties / 2) / n.")
    interval: tuple[float, float] = Field(description="95% Wilson score interval of win_rate.")
    p_value: float = Field(description="Two-sided exact sign test over wins and losses.")


class PreferenceResultsOut(BaseModel):
    """A DPO job's figures on its eval pairs, as the worker reported them on completion."""

    start_pair_accuracy: float | None = Field(
        description="Share of eval pairs where the starting model gives the chosen response a "
        "higher summed log-probability than the rejected one."
    )
    start_pair_margin: float | None = Field(
        description="The starting model's mean log-probability of chosen minus rejected."
    )
    tuned_pair_accuracy: float | None = Field(description="The same share for the tuned model.")
    tuned_pair_margin: float | None = Field(description="The same margin for the tuned model.")
    eval_reward_accuracy: float | None = Field(
        description="Share of eval pairs whose chosen response has the higher implicit reward "
        "(beta × the tuned model's log-probability over the reference's)."
    )
    eval_reward_margin: float | None = Field(
        description="Mean implicit reward of chosen minus rejected on the eval pairs."
    )
    pairs_train: int | None = Field(description="Pairs the job trained on.")
    pairs_eval: int | None = Field(description="Eval pairs these figures are over.")

    @classmethod
    def of(cls, figures: dict[str, float | None] | None) -> PreferenceResultsOut | None:
        if figures is None:
            return None
        counts = {k: int(figures[k]) if figures[k] is not None else None
                  for k in ("pairs_train", "pairs_eval")}  # fmt: skip
        return cls(**{**figures, **counts})


class SeenResultsOut(BaseModel):
    """The sample of training prompts ("seen"), generated on by both models: what the job
    learned, not how it generalises. Its figures are never part of the eval ones."""

    items: int = Field(description="Seen predictions the worker reported.")
    overall: list[MetricRow] = Field(description="The eval table's metrics over the seen prompts.")
    base_loss: float | None = Field(
        description="The starting model's mean loss per answer token on the seen prompts (SFT)."
    )
    tuned_loss: float | None = Field(description="The tuned model's, on the same prompts.")
    base_perplexity: float | None = Field(description="exp(base_loss).")
    tuned_perplexity: float | None = Field(description="exp(tuned_loss).")
    means: dict[str, float | None] = Field(
        description="As the worker reported them: seen_base_f1, seen_tuned_f1, "
        "seen_base_rouge_l, … (the eval means' names, prefixed seen_)."
    )

    @classmethod
    def of(cls, seen: results.Seen) -> SeenResultsOut:
        f = {k: finite(v) for k, v in seen.figures.items()}
        return cls(
            items=len(seen.predictions),
            overall=MetricRow.rows(seen.table),
            base_loss=f["seen_base_loss"],
            tuned_loss=f["seen_tuned_loss"],
            base_perplexity=f["seen_base_perplexity"],
            tuned_perplexity=f["seen_tuned_perplexity"],
            means={k: v for k, v in f.items() if not k.endswith(("_loss", "_perplexity"))},
        )


class JobResultsOut(BaseModel):
    job_id: int
    status: str
    eval_items: int = Field(description="Eval predictions the worker reported.")
    headline: dict[str, float | None] = Field(
        description="eval_loss, perplexity, base_eval_loss and base_perplexity (the starting "
        "model's, on the same eval items), tuned_f1, tuned_rouge_l, tuned_exact_match."
    )
    overall: list[MetricRow]
    per_kind: dict[str, list[MetricRow]]
    per_language: dict[str, list[MetricRow]] = Field(
        description="By the language of the revision the version pinned (else the item's); "
        "'unknown' when neither has one."
    )
    per_domain: dict[str, list[MetricRow]] = Field(
        description="By the domain of the pinned revision; '' holds the items without one."
    )
    group_items: dict[str, dict[str, int]] = Field(
        description="Eval items per group: {'kind': {...}, 'language': {...}, 'domain': {...}}."
    )
    fell_while_overall_rose: list[FellOut] = Field(
        description="Each group and metric whose tuned − base is below zero while overall it "
        "is above: an improving average can hide a group that got worse."
    )
    human_verdicts: list[HumanVerdictOut] = Field(
        default_factory=list,
        description="Closed pairwise evaluation rounds of this job's tuned against base outputs.",
    )
    objective: Literal["sft", "dpo"] = Field(
        default="sft", description="What the job learned: SFT items or DPO pairs."
    )
    start_job_id: int | None = Field(
        default=None, description="The job whose tuned model this one started from."
    )
    preference: PreferenceResultsOut | None = Field(
        default=None,
        description="DPO jobs: the starting and the tuned model on the eval pairs, and the "
        "tuned model's implicit rewards; null for SFT jobs.",
    )
    seen: SeenResultsOut | None = Field(
        default=None,
        description="A sample of the training prompts, base against tuned: what the job "
        "learned (null for a job that reported none). Every other figure is over eval items.",
    )

    @classmethod
    def of(
        cls,
        job: Job,
        predictions: int,
        found: groups.Breakdown,
        seen: results.Seen | None = None,
    ) -> JobResultsOut:
        return cls(
            job_id=job.id,
            status=job.status,
            eval_items=predictions,
            headline={k: finite(v) for k, v in results.headline(job).items()},
            overall=MetricRow.rows(found.overall),
            per_kind={k: MetricRow.rows(t) for k, t in found.tables("kind").items()},
            per_language={k: MetricRow.rows(t) for k, t in found.tables("language").items()},
            per_domain={k: MetricRow.rows(t) for k, t in found.tables("domain").items()},
            group_items={
                group_by: {name: g.size for name, g in named.items()}
                for group_by, named in found.groups.items()
            },
            fell_while_overall_rose=[FellOut.model_validate(f) for f in found.fell],
            objective="dpo" if (job.params or {}).get("objective") == "dpo" else "sft",
            start_job_id=job.start_job_id,
            preference=PreferenceResultsOut.of(results.preference(job)),
            seen=SeenResultsOut.of(seen) if seen is not None and seen.predictions else None,
        )


class ConstraintMark(BaseModel):
    id: str
    base: bool = Field(description="Whether the base output keeps the constraint.")
    tuned: bool


class PredictionOut(BaseModel):
    id: int = Field(description="Pass the last one as ``after`` for the next page.")
    item_id: int
    kind: str
    reference: str
    base_output: str
    tuned_output: str
    scores: dict[str, float | None] = Field(description="base_… and tuned_… scores.")
    split: Literal["eval", "train"] = Field(
        default="eval",
        description="'eval': a held-out item; 'train': one of the seen sample of training items.",
    )
    constraints: list[ConstraintMark] = Field(
        description="The item's constraints checked on both outputs."
    )

    @classmethod
    def of(cls, p: EvalPrediction, marks: list[results.Mark]) -> PredictionOut:
        return cls(
            id=p.id,
            item_id=p.item_id,
            kind=p.kind,
            reference=p.reference,
            base_output=p.base_output,
            tuned_output=p.tuned_output,
            scores={k: finite(v) for k, v in p.scores.items()},
            split="train" if p.split == "train" else "eval",
            constraints=[ConstraintMark(id=m.id, base=m.base, tuned=m.tuned) for m in marks],
        )


class PredictionPage(BaseModel):
    predictions: list[PredictionOut]
    next_cursor: int | None = Field(description="Pass it as ``after``; null at the end.")


class DataMapPoint(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: int
    confidence: float = Field(description="Mean probability of the reference over epochs.")
    variability: float = Field(description="Standard deviation of that confidence.")
    loss: float = Field(description="Mean loss over epochs.")
    epochs: int
    region: Literal["easy", "ambiguous", "hard"]


class DataMapOut(BaseModel):
    job_id: int
    confidence_cut: float = Field(description="At or below it (and steady), an item is hard.")
    variability_cut: float = Field(description="Above it, an item is ambiguous.")
    counts: dict[str, int]
    points: list[DataMapPoint] = Field(description="One per training item, by item id.")

    @classmethod
    def of(cls, job_id: int, data: datamap.DataMap) -> DataMapOut:
        return cls(
            job_id=job_id,
            confidence_cut=data.confidence_cut,
            variability_cut=data.variability_cut,
            counts=data.counts(),
            points=[DataMapPoint.model_validate(p) for p in data.points],
        )


class SendBackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[Annotated[int, Field(ge=1, le=MAX_INTEGER)]] = Field(
        min_length=1, max_length=feedback.MAX_ITEMS, description="Items of the job's version."
    )
    comment: str = Field(default="", max_length=500, description="A note for the reviewer.")


class SkippedItem(BaseModel):
    item_id: int
    status: str = Field(description="Its status, which is not approved: it was left as it is.")


class SendBackOut(BaseModel):
    reopened: list[int] = Field(description="Approved items now back in review.")
    skipped: list[SkippedItem]

    @classmethod
    def of(cls, outcome: feedback.SendBack) -> SendBackOut:
        return cls(
            reopened=outcome.reopened,
            skipped=[SkippedItem(item_id=i, status=s) for i, s in sorted(outcome.skipped.items())],
        )
