"""One fine-tune job, step by step in the order the steps run: load the data (checked against
the version's manifest) and the base model, generate the base model's outputs, train while a
``Reporter`` keeps the app informed, evaluate the tuned model, save it with its card, report.

Under torchrun every rank loads and trains; rank 0 alone talks to the app (logs, metrics,
heartbeats, dynamics, predictions), evaluates and saves.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from app.core import base_models, manifest, protocol
from app.core.job_paths import JobFolder
from app.core.prompts import render_messages
from app.core.protocol import DatasetItem, JobSpec
from trainer.checkpoints import resolve_checkpoint
from trainer.client import AppClient
from trainer.modelcard import write_model_card
from trainer.reporter import Reporter


class DatasetMismatch(RuntimeError):
    """The items received are not the dataset version the app froze."""


@dataclass
class Dataset:
    train: list[DatasetItem]
    eval: list[DatasetItem]

    def texts(self) -> list[str]:
        """Every item's words as the model reads them (system prompt, every turn of a
        conversation): what the offline ``tiny`` tokenizer is trained on."""
        return [
            "\n".join(m["content"] for m in render_messages(i.content))
            for i in self.train + self.eval
        ]


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
    if ranks > 1:
        say(f"training data-parallel on {ranks} ranks")
    model, tokenizer = load_base(spec, data.texts(), folder)
    base_outputs = baseline_outputs(spec, model, tokenizer, data.eval if rank == 0 else [])

    reporter = Reporter(client, spec, model, tokenizer, data.train, data.eval)
    resume = resolve_checkpoint(folder.checkpoints, spec.resume_from) if spec.resume_from else None
    if resume:
        say(f"resuming from {spec.resume_from}")
    reporter.start()
    torch.manual_seed(spec.params.seed)
    result = train(
        model,
        tokenizer,
        [i.content for i in data.train],
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

    predictions = evaluate(client, spec, result.model, tokenizer, data.eval, base_outputs)
    summary = summarise(spec, result, tokenizer, data.eval, predictions)
    save(
        spec, folder, result.model, tokenizer, summary, data, say=say, encoding=result.encode_stats
    )
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


def load_base(spec: JobSpec, texts: list[str], folder: JobFolder):
    """The base model and tokenizer: `tiny` is built offline from the dataset's text.

    Under torchrun rank 0 builds or downloads first and the other ranks load what it left
    (the tiny folder, the hub cache), so they never race on the same files."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.ranks import world

    ranks, rank = world()
    tiny = spec.base_model == "tiny"
    path = folder.base if tiny else base_model_source(spec.base_model)

    def load():
        try:
            return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
        except OSError as error:
            raise RuntimeError(
                f"Could not load the base model {spec.base_model!r}. A hub id needs network "
                f"access to the model hub (or the model in the local cache); this machine "
                f"could not get it: {str(error).splitlines()[0]}"
            ) from error

    if rank == 0:
        if tiny:
            from trainer.tiny import build_tiny

            build_tiny(texts, path, seed=spec.params.seed)
        tokenizer, model = load()
    if ranks > 1:
        import torch.distributed as dist

        dist.barrier()  # rank 0 has built or downloaded the model
        if rank != 0:
            tokenizer, model = load()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        from app.core.prompts import DEFAULT_CHAT_TEMPLATE

        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return model, tokenizer


def model_roots() -> list[str] | None:
    """The folders local base models may come from (``STUDIO_MODEL_ROOTS``, a JSON list as
    the app reads it), or None where this worker is not told."""
    raw = os.environ.get("STUDIO_MODEL_ROOTS")
    if raw is None:
        return None
    roots = json.loads(raw) if raw.strip() else []
    if not isinstance(roots, list):
        raise RuntimeError("STUDIO_MODEL_ROOTS must be a JSON list of folders")
    return [str(r) for r in roots]


def base_model_source(base_model: str) -> str:
    """What to load a (non-tiny) base model from. The app allowed it at launch; a worker that
    knows the model roots checks a local path again, here where the files are, and a hub id
    that names a folder here is refused, since transformers would read the folder instead."""
    if base_models.is_local_model(base_model):
        roots = model_roots()
        if roots is not None:
            base_models.local_model_path(base_model, roots)
        return os.path.expanduser(base_model)
    if os.path.exists(base_model):
        raise RuntimeError(
            f"The base model {base_model!r} is a hub id, but this worker has a folder of that "
            f"name where it runs; it will not load the folder in place of the hub model."
        )
    return base_model


# --- 2. baseline outputs ---------------------------------------------------------------------


def baseline_outputs(spec: JobSpec, model, tokenizer, items: list[DatasetItem]) -> dict[int, str]:
    """The untrained model's output for each eval item, to set beside the tuned one."""
    from trainer.evaluate import generate, generation_settings

    settings = generation_settings(spec.params)
    return {i.item_id: generate(model, tokenizer, i.content, **settings)[0] for i in items}


# --- 3. train: trainer.train.train with a trainer.reporter.Reporter --------------------------
# --- 4. evaluate -----------------------------------------------------------------------------


def evaluate(
    client: AppClient,
    spec: JobSpec,
    tuned,
    tokenizer,
    items: list[DatasetItem],
    base_outputs: dict[int, str],
) -> list[protocol.Prediction]:
    """Generate with the tuned model, score both models' outputs, and report them."""
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
            )
        )
    client.predictions(spec.job_id, spec.attempt, predictions)
    return predictions


def summarise(
    spec: JobSpec, result, tokenizer, items: list[DatasetItem], predictions
) -> dict[str, float | None]:
    """The job's headline figures: final losses, padding, and mean scores of each model."""
    from trainer.evaluate import evaluate_loss

    summary = {
        "final_train_loss": result.losses[-1] if result.losses else None,
        "padding_fraction": result.padding_fraction,
        "steps": result.step,
    }
    if items:
        contents = [i.content for i in items]
        summary["eval_loss"] = evaluate_loss(result.model, tokenizer, contents, spec.params)
        for side in ("base", "tuned"):
            for name in ("exact_match", "f1", "rouge_l"):
                values = [p.scores[f"{side}_{name}"] for p in predictions]
                summary[f"{side}_{name}"] = sum(values) / len(values)
    # A diverged run's NaN or infinite loss is reported as unknown: the app refuses the rest.
    return {k: v if v is None or protocol.reportable(v) else None for k, v in summary.items()}


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
):
    """The tuned model (or adapter) and tokenizer, its card, and the merged model if asked;
    ``encoding`` is the training run's ``EncodeStats``."""
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
