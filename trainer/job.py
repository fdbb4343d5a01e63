"""One fine-tune job, step by step in the order the steps run: load the data (checked against
the version's manifest), see what the job can learn from it (SFT: every kind but preference
pairs; DPO: the pairs), load the starting model (the base model, or a finished job's model),
measure it (its outputs on the held-out prompts and on a sample of the training prompts, the
"seen" ones, and its eval loss: ``trainer.baseline``), train while a ``Reporter`` keeps the app
informed, evaluate the tuned model on the same prompts, save it with its card, report.

Under torchrun every rank loads and trains; rank 0 alone talks to the app (logs, metrics,
heartbeats, dynamics, predictions), evaluates and saves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from app.core import manifest, protocol
from app.core.job_paths import JobFolder
from app.core.kinds import SFT_KINDS, ItemKind
from app.core.prompts import render_messages
from app.core.protocol import DatasetItem, JobSpec
from trainer.baseline import Baseline, means, measure_start, seen_sample, seen_summary
from trainer.checkpoints import resolve_checkpoint
from trainer.client import AppClient
from trainer.modelcard import write_model_card
from trainer.reporter import Reporter
from trainer.start import load_start


class DatasetMismatch(RuntimeError):
    """The items received are not the dataset version the app froze."""


class NothingToLearn(RuntimeError):
    """The dataset version holds nothing the job's objective trains on."""


@dataclass
class Dataset:
    train: list[DatasetItem]
    eval: list[DatasetItem]

    def texts(self) -> list[str]:
        """Every item's words as the model reads them (system prompt, every turn of a
        conversation, a pair's rejected answer too): what the offline ``tiny`` tokenizer is
        trained on."""
        return [
            "\n".join(
                [m["content"] for m in render_messages(i.content)]
                + ([i.content.rejected] if i.content.rejected else [])
            )
            for i in self.train + self.eval
        ]


@dataclass
class Learnable:
    """The items a job's objective learns from and is measured on (SFT's items or DPO's
    pairs), and a sentence for the log about what it leaves out."""

    train: list[DatasetItem]
    eval: list[DatasetItem]
    note: str | None


def run_job(client: AppClient, spec: JobSpec) -> None:
    """Train and evaluate one job."""
    import torch

    from trainer.ranks import world
    from trainer.train import train

    ranks, rank = world()
    folder = JobFolder(Path(spec.artifact_dir))
    folder.path.mkdir(parents=True, exist_ok=True)
    say = _logger(client, spec) if rank == 0 else lambda line: None

    data = load_data(client, spec)
    say(f"dataset {spec.dataset_version_id}: {len(data.train)} train, {len(data.eval)} eval")
    learnable = learnable_items(spec, data)
    if learnable.note:
        say(learnable.note)
    if ranks > 1:
        say(f"training data-parallel on {ranks} ranks")
    if spec.start_from:
        say(f"starting from the model of job {spec.start_from.job_id}")
    model, tokenizer = load_start(spec, data.texts(), folder)
    objective = make_objective(spec, tokenizer, learnable, data)
    seen = seen_sample(learnable.train, seed=spec.params.seed) if rank == 0 else []
    baseline = measure_start(
        spec, model, tokenizer, eval_items=data.eval if rank == 0 else [], seen_items=seen
    )

    reporter = Reporter(
        client, spec, model, tokenizer, learnable.train, learnable.eval, objective=objective
    )
    resume = resolve_checkpoint(folder.checkpoints, spec.resume_from) if spec.resume_from else None
    if resume:
        say(f"resuming from {spec.resume_from}")
    reporter.start()
    torch.manual_seed(spec.params.seed)
    result = train(
        model,
        tokenizer,
        objective,
        spec.params,
        on_step=reporter.on_step,
        on_encoded=reporter.on_encoded,
        checkpoint_dir=folder.checkpoints,
        resume_from=resume,
    )
    if rank != 0:
        return  # rank 0 evaluates, saves and reports
    if reporter.cancel:
        client.cancelled(spec.job_id, protocol.Heartbeat(attempt=spec.attempt, step=result.step))
        return

    summary = evaluate_tuned(client, spec, result, tokenizer, data.eval, seen, baseline)
    used = Dataset(train=learnable.train, eval=data.eval)  # trained on, and evaluated
    save(spec, folder, result.model, tokenizer, summary, used, say=say, result=result)
    done = protocol.Completion(attempt=spec.attempt, metrics=summary, artifacts=[str(folder.model)])
    client.complete(spec.job_id, done)


def _logger(client: AppClient, spec: JobSpec):
    def say(line: str) -> None:
        line = line[: protocol.MAX_LOG_LINE_CHARS]
        client.logs(spec.job_id, protocol.LogBatch(attempt=spec.attempt, lines=[line]))

    return say


# --- 1. load ---------------------------------------------------------------------------------


def load_data(client: AppClient, spec: JobSpec) -> Dataset:
    """Both splits of the job's dataset version, refused unless they hash to its manifest."""
    expected = client.manifest(spec.dataset_version_id)
    data = Dataset(
        train=client.split(spec.dataset_version_id, "train"),
        eval=client.split(spec.dataset_version_id, "eval"),
    )
    check_manifest(expected, data)
    return data


def check_manifest(expected: protocol.DatasetManifest, data: Dataset) -> None:
    """Training on other items than the version froze would make its results a lie."""
    got = manifest.received_hash(data.train + data.eval)
    if got != expected.manifest_hash:
        raise DatasetMismatch(
            f"Dataset version {expected.version_id} ({expected.name!r}) arrived with items "
            f"that do not match its manifest: {len(data.train)} train and {len(data.eval)} "
            f"eval items hash to {got[:12]}…, but the version was frozen as "
            f"{expected.train_count} train and {expected.eval_count} eval items hashing to "
            f"{expected.manifest_hash[:12]}…. Its pinned revisions have changed since it was "
            f"frozen; freeze a new version and launch the job on that."
        )


def learnable_items(spec: JobSpec, data: Dataset) -> Learnable:
    """What the job's objective trains on; refused with a sentence when there is none, before
    any model is loaded."""
    version = spec.dataset_version_id
    if spec.params.objective == "dpo":
        train = [i for i in data.train if i.content.kind is ItemKind.preference]
        if not train:
            raise NothingToLearn(
                f"Dataset version {version} has no preference pair in its training split, and "
                f"DPO learns from pairs only. Add preference pairs (from an evaluation round, by "
                f"improving a model output, or in the editor), freeze a new version and launch "
                f"DPO on that, or launch supervised fine-tuning on this version."
            )
        others = len(data.train) - len(train)
        note = f"DPO on {len(train)} preference pairs"
        if others:
            note += f"; {others} items of other kinds are left out (DPO learns from pairs only)"
        return Learnable(train, data.eval, note)
    train = [i for i in data.train if i.content.kind in SFT_KINDS]
    if not train:
        raise NothingToLearn(
            f"Dataset version {version} holds only preference pairs in its training split, and "
            f"supervised fine-tuning leaves pairs out. Launch DPO on this version, or freeze a "
            f"version with tasks, examples or conversations for supervised fine-tuning."
        )
    pairs = len(data.train) - len(train)
    note = None
    if pairs:
        note = (
            f"{pairs} preference pairs left out of supervised fine-tuning (pairs are for DPO); "
            f"training on {len(train)} items"
        )
    sft_eval = [i for i in data.eval if i.content.kind in SFT_KINDS]
    return Learnable(train, sft_eval, note)


def make_objective(spec: JobSpec, tokenizer, learnable: Learnable, data: Dataset):
    """SFT's or DPO's objective over the learnable items (DPO scores every eval pair)."""
    from trainer.train import make_objective as build

    contents = [i.content for i in learnable.train]
    if spec.params.objective == "dpo":
        eval_contents = [i.content for i in data.eval]
        return build(tokenizer, contents, spec.params, eval_contents=eval_contents)
    return build(tokenizer, contents, spec.params)


# --- 2. the starting model: trainer.baseline.measure_start ------------------------------------
# --- 3. train: trainer.train.train with a trainer.reporter.Reporter --------------------------
# --- 4. evaluate -----------------------------------------------------------------------------


def evaluate(
    client: AppClient,
    spec: JobSpec,
    tuned,
    tokenizer,
    items: list[DatasetItem],
    base_outputs: dict[int, str],
    *,
    split: protocol.Split = "eval",
) -> list[protocol.Prediction]:
    """Generate with the tuned model, score both models' outputs, and report them as the
    ``split``'s predictions (``'train'`` for the seen sample)."""
    from trainer.evaluate import generate, generation_settings, score

    settings = generation_settings(spec.params)
    predictions = []
    for item in items:
        output = generate(tuned, tokenizer, item.content, **settings)[0]
        base = base_outputs[item.item_id]
        base_scores, tuned_scores = score(item, base), score(item, output)
        cut = protocol.MAX_PREDICTION_CHARS  # scored above on the whole texts
        predictions.append(
            protocol.Prediction(
                item_id=item.item_id,
                kind=item.content.kind,
                reference=item.content.output[:cut],
                base_output=base[:cut],
                tuned_output=output[:cut],
                scores={
                    **{f"base_{k}": v for k, v in base_scores.items()},
                    **{f"tuned_{k}": v for k, v in tuned_scores.items()},
                },
                split=split,
            )
        )
    if predictions:
        client.predictions(spec.job_id, spec.attempt, predictions)
    return predictions


def evaluate_tuned(
    client: AppClient,
    spec: JobSpec,
    result,
    tokenizer,
    held_out: list[DatasetItem],
    seen: list[DatasetItem],
    baseline: Baseline,
) -> dict[str, float | None]:
    """The tuned model on the held-out items and on the seen sample, both reported beside the
    starting model's outputs; the job's summary (the held-out figures, then the seen ones)."""
    predictions = evaluate(client, spec, result.model, tokenizer, held_out, baseline.outputs)
    seen_predictions = evaluate(
        client, spec, result.model, tokenizer, seen, baseline.seen_outputs, split="train"
    )
    summary = summarise(spec, result, tokenizer, held_out, predictions, baseline=baseline)
    summary.update(seen_summary(spec, result.model, tokenizer, seen, seen_predictions, baseline))
    return summary


def summarise(
    spec: JobSpec,
    result,
    tokenizer,
    items: list[DatasetItem],
    predictions,
    *,
    baseline: Baseline | None = None,
) -> dict[str, float | None]:
    """The job's headline figures over the held-out items: final losses, padding, the eval
    loss of the tuned and (from ``baseline``) the starting model, and mean scores of each
    model; for DPO the eval pairs' figures of the starting and the tuned model too."""
    from trainer.evaluate import evaluate_loss

    summary = {
        "final_train_loss": result.losses[-1] if result.losses else None,
        "padding_fraction": result.padding_fraction,
        "steps": result.step,
    }
    if spec.params.objective == "dpo":
        summary.update(pair_summary(result.objective, result.model))
    elif sft := [i.content for i in items if i.content.kind in SFT_KINDS]:
        # Eval loss over the items SFT learns from: a pair's chosen answer is no SFT target.
        summary["eval_loss"] = evaluate_loss(result.model, tokenizer, sft, spec.params)
        if baseline is not None and baseline.eval_loss is not None:
            summary["base_eval_loss"] = baseline.eval_loss
    summary.update(means(predictions))
    # A diverged run's NaN or infinite loss is reported as unknown: the app refuses the rest.
    return {k: v if v is None or protocol.reportable(v) else None for k, v in summary.items()}


def pair_summary(objective, model) -> dict[str, float | None]:
    """DPO's figures on the eval pairs: the starting and the tuned model's pair accuracy and
    margin (summed answer log-probabilities, chosen against rejected), the tuned model's
    implicit reward accuracy and margin, its DPO loss, and the pair counts."""
    summary: dict[str, float | None] = {
        "pairs_train": len(objective.pairs),
        "pairs_eval": len(objective.eval_pairs),
    }
    if not objective.eval_pairs:
        return summary
    start, tuned = objective.start_figures(), objective.evaluate(model)
    summary.update(
        {
            # Before its first step the policy is its reference, so every pair's DPO loss is
            # log 2: the figure says where the tuned model's loss started from.
            "base_eval_loss": start["loss"],
            "eval_loss": tuned["loss"],
            "start_pair_accuracy": start["pair_accuracy"],
            "start_pair_margin": start["pair_margin"],
            "tuned_pair_accuracy": tuned["pair_accuracy"],
            "tuned_pair_margin": tuned["pair_margin"],
            "eval_reward_accuracy": tuned["reward_accuracy"],
            "eval_reward_margin": tuned["reward_margin"],
        }
    )
    return summary


# --- 5. save ---------------------------------------------------------------------------------


def save(
    spec: JobSpec,
    folder: JobFolder,
    tuned,
    tokenizer,
    summary: dict,
    data: Dataset,
    *,
    say,
    encoding=None,
    result=None,
):
    """The tuned model (or adapter) and tokenizer, its card, and the merged model if asked;
    ``encoding`` is the training run's ``EncodeStats`` (``result``'s, when given)."""
    if result is not None:
        encoding = result.encode_stats
    tuned.save_pretrained(folder.model)
    tokenizer.save_pretrained(folder.model)
    # After save_pretrained: PEFT writes a stub README.md there, which the card replaces.
    write_model_card(
        folder.model,
        spec,
        summary,
        train_count=len(data.train),
        eval_count=len(data.eval),
        encoding=asdict(encoding) if encoding is not None else None,
    )
    if spec.params.method == "lora" and spec.params.save_merged:
        # Last, because merging folds the adapter into the base weights in place.
        say("saving the merged model")
        merged = tuned.merge_and_unload()
        merged.save_pretrained(folder.merged)
        tokenizer.save_pretrained(folder.merged)
