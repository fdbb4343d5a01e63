"""What a job sets the tuned model beside: the starting model, measured before training changes
it (a full fine-tune overwrites its weights; LoRA injects its adapter into them in place), and
a sample of the training prompts ("seen"), measured on both models.

A tiny model cannot generalise from a few dozen items, but it can learn them: the seen prompts
show what a job learned, the held-out ones how far that carries to prompts it never saw. Both
are generated and scored by the same code; only the held-out ones make the job's headline
figures (``base_f1``, ``tuned_f1``, …), the seen ones are reported beside them
(``seen_base_f1``, ``seen_tuned_f1``, …) and as predictions with ``split='train'``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.core.kinds import SFT_KINDS
from app.core.protocol import DatasetItem, JobSpec, Prediction, reportable

# At most this many training items are generated on as the seen sample: enough to see what
# the job learned, few enough that two more passes of generation stay a small part of a job.
SEEN_MAX = 8
# The means the summary reports for each side, held-out (``base_f1``) and seen (``seen_base_f1``).
TEXT_MEANS = ("exact_match", "f1", "rouge_l")


@dataclass
class Baseline:
    """The starting model on the held-out and the seen prompts, measured before training:
    its outputs by item id, and (SFT) its mean loss per answer token."""

    outputs: dict[int, str] = field(default_factory=dict)
    seen_outputs: dict[int, str] = field(default_factory=dict)
    eval_loss: float | None = None
    seen_loss: float | None = None


def seen_sample(items: Sequence[DatasetItem], *, seed: int) -> list[DatasetItem]:
    """The seen sample: ``SEEN_MAX`` of the items the job trains on (SFT's kinds for SFT, the
    pairs for DPO), drawn with the job's seed, in the split's order; all of them when there are
    no more. The same version and seed give the same sample, so jobs compare."""
    if len(items) <= SEEN_MAX:
        return list(items)
    chosen = set(random.Random(seed).sample(range(len(items)), SEEN_MAX))
    return [item for n, item in enumerate(items) if n in chosen]


def sft_contents(items: Sequence[DatasetItem]) -> list:
    """The items SFT's loss is measured on: a pair's chosen answer is no SFT target."""
    return [i.content for i in items if i.content.kind in SFT_KINDS]


def measure_start(
    spec: JobSpec,
    model,
    tokenizer,
    *,
    eval_items: Sequence[DatasetItem],
    seen_items: Sequence[DatasetItem],
) -> Baseline:
    """The starting model's outputs on the held-out and the seen prompts and, for SFT, its
    eval loss and seen loss by the code that measures the tuned model (``evaluate_loss``).
    DPO's starting figures come from its reference pass (``trainer.job.pair_summary``)."""
    from trainer import precision
    from trainer.evaluate import evaluate_loss, generate, generation_settings
    from trainer.ranks import device_for_rank

    # In the precision the job computes in (``prepare_model`` marks the model it trains the
    # same way), so the starting and the tuned model's losses come from the same computation.
    precision.mark(model, spec.params, device_for_rank())
    settings = generation_settings(spec.params)

    def outputs(items: Sequence[DatasetItem]) -> dict[int, str]:
        return {i.item_id: generate(model, tokenizer, i.content, **settings)[0] for i in items}

    found = Baseline(outputs=outputs(eval_items), seen_outputs=outputs(seen_items))
    if spec.params.objective == "sft":
        if held_out := sft_contents(eval_items):
            found.eval_loss = evaluate_loss(model, tokenizer, held_out, spec.params)
        if seen := sft_contents(seen_items):
            found.seen_loss = evaluate_loss(model, tokenizer, seen, spec.params)
    return found


def means(predictions: Sequence[Prediction], prefix: str = "") -> dict[str, float]:
    """Each side's mean text scores over ``predictions`` (``base_f1``, ``tuned_f1``, …), the
    names prefixed with ``prefix``; none for no predictions."""
    found: dict[str, float] = {}
    if not predictions:
        return found
    for side in ("base", "tuned"):
        for name in TEXT_MEANS:
            values = [p.scores[f"{side}_{name}"] for p in predictions]
            found[f"{prefix}{side}_{name}"] = sum(values) / len(values)
    return found


def seen_summary(
    spec: JobSpec,
    tuned,
    tokenizer,
    seen_items: Sequence[DatasetItem],
    predictions: Sequence[Prediction],
    baseline: Baseline,
) -> dict[str, float | None]:
    """The seen sample's figures: both models' mean scores and, for SFT, both models' loss."""
    summary: dict[str, float | None] = dict(means(predictions, prefix="seen_"))
    seen = sft_contents(seen_items)
    if spec.params.objective == "sft" and seen and baseline.seen_loss is not None:
        from trainer.evaluate import evaluate_loss

        summary["seen_base_loss"] = baseline.seen_loss
        summary["seen_tuned_loss"] = evaluate_loss(tuned, tokenizer, seen, spec.params)
    # A diverged run's NaN or infinite loss is reported as unknown, as the held-out one is.
    return {k: v if v is None or reportable(v) else None for k, v in summary.items()}
