"""The worker loop: claim a job, load the data and the base model, train, report, evaluate.

One job at a time. Heartbeats go out at most every few seconds and carry the latest
checkpoint, so a worker that dies is replaced by another that resumes from there.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import traceback
from pathlib import Path

import httpx

from app.core import constraints, metrics, protocol
from trainer.client import AppClient
from trainer.modelcard import write_model_card

log = logging.getLogger("trainer")
# Seconds between heartbeats (each also reports the newest checkpoint); tests shorten it.
HEARTBEAT_SECONDS = float(os.environ.get("STUDIO_HEARTBEAT_SECONDS", "5"))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def load_base(spec: protocol.JobSpec, texts: list[str], out: Path):
    """The base model and tokenizer: `tiny` is built offline from the dataset's text.

    Under torchrun rank 0 builds or downloads first and the other ranks load what it left
    (the tiny folder, the hub cache), so they never race on the same files."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.ranks import world

    ranks, rank = world()
    path = out / "base" if spec.base_model == "tiny" else os.path.expanduser(spec.base_model)

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
        if spec.base_model == "tiny":
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


def latest_checkpoint(folder: Path) -> str | None:
    """The newest complete checkpoint: `trainer_state.json` is the last file a save writes."""
    done = [p.parent for p in folder.glob("step-*/trainer_state.json")]
    if not done:
        return None
    return str(max(done, key=lambda p: int(p.name.removeprefix("step-"))))


def score(item: protocol.DatasetItem, output: str) -> dict[str, float | None]:
    scores: dict[str, float | None] = dict(metrics.text_scores(output, item.content.output))
    refs = [c.model_dump() for c in item.content.constraints]
    if refs:
        verdicts = [v.passed for _ref, v in constraints.check_all(refs, output)]
        scores["constraints_passed"] = sum(verdicts) / len(verdicts)
        scores["prompt_passed"] = float(all(verdicts))
    else:
        scores["constraints_passed"] = scores["prompt_passed"] = None
    return scores


def run_job(client: AppClient, spec: protocol.JobSpec) -> None:
    """Train and evaluate one job. Under torchrun every rank trains; rank 0 alone talks to the
    app (logs, metrics, heartbeats, dynamics, predictions), evaluates and saves."""
    import torch

    from trainer.ranks import world
    from trainer.train import TrainConfig, evaluate_loss, generate, item_dynamics, train

    ranks, rank = world()
    job, attempt = spec.job_id, spec.attempt
    out = Path(spec.artifact_dir)
    out.mkdir(parents=True, exist_ok=True)

    def say(line: str) -> None:
        if rank == 0:
            client.logs(job, protocol.LogBatch(attempt=attempt, lines=[line]))

    train_items = client.split(spec.dataset_version_id, "train")
    eval_items = client.split(spec.dataset_version_id, "eval")
    say(f"dataset {spec.dataset_version_id}: {len(train_items)} train, {len(eval_items)} eval")
    if ranks > 1:
        say(f"training data-parallel on {ranks} ranks")
    texts = [
        f"{i.content.instruction}\n{i.content.input}\n{i.content.output}"
        for i in train_items + eval_items
    ]
    model, tokenizer = load_base(spec, texts, out)
    cfg = TrainConfig.from_job(spec.params)
    gen = spec.params.generation.max_new_tokens
    base_outputs = {
        i.item_id: generate(model, tokenizer, i.content, max_new_tokens=gen)[0]
        for i in (eval_items if rank == 0 else [])
    }
    last_beat = 0.0
    state = {"cancel": False, "total": None, "epochs_done": 0, "first": True}
    train_contents = [i.content for i in train_items]

    def report_dynamics(epoch: int) -> None:
        """Each training item's loss and confidence after an epoch: the data map's input."""
        points = [
            protocol.DynamicsPoint(
                item_id=item.item_id,
                epoch=epoch,
                loss=values[0],
                confidence=min(1.0, max(0.0, values[1])),
            )
            for item, values in zip(
                train_items, item_dynamics(model, tokenizer, train_contents, cfg), strict=True
            )
            if values is not None
        ]
        if points:
            client.dynamics(job, protocol.DynamicsBatch(attempt=attempt, points=points))

    def on_step(step: int, values: dict) -> bool:
        nonlocal last_beat
        state["total"] = values.get("total_steps")
        if state["first"]:
            state["first"] = False
            # A resumed run starts mid-way: the epochs before its checkpoint were measured
            # by the earlier attempt and are not measured again with today's weights.
            state["epochs_done"] = math.floor(values["epoch"] * (step - 1) / step)
        points = [
            protocol.MetricPoint(step=step, name=f"train/{k}", value=float(v))
            for k, v in values.items()
            if v is not None and k != "total_steps"
        ]
        elapsed = time.monotonic() - started
        points.append(
            protocol.MetricPoint(
                step=step,
                name="train/tokens_per_s",
                value=values["tokens"] / max(elapsed / step, 1e-9),
            )
        )
        client.metrics(job, protocol.MetricBatch(attempt=attempt, points=points))
        if eval_items and step % spec.params.eval_interval == 0:
            loss = evaluate_loss(model, tokenizer, [i.content for i in eval_items], cfg)
            client.metrics(
                job,
                protocol.MetricBatch(
                    attempt=attempt,
                    points=[protocol.MetricPoint(step=step, name="eval/loss", value=loss)],
                ),
            )
        while values["epoch"] >= state["epochs_done"] + 1:
            state["epochs_done"] += 1
            report_dynamics(state["epochs_done"])
        if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
            last_beat = time.monotonic()
            reply = client.heartbeat(
                job,
                protocol.Heartbeat(
                    attempt=attempt,
                    step=step,
                    epoch=values["epoch"],
                    total_steps=state["total"],
                    # Where a replacement worker resumes if this one dies.
                    checkpoint=latest_checkpoint(out / "checkpoints"),
                ),
            )
            state["cancel"] = reply.cancel
        return state["cancel"]

    if spec.resume_from:
        say(f"resuming from {spec.resume_from}")
    started = time.monotonic()  # throughput counts training only, not the base outputs
    torch.manual_seed(cfg.seed)
    result = train(
        model,
        tokenizer,
        [i.content for i in train_items],
        cfg,
        on_step=on_step,
        checkpoint_dir=out / "checkpoints",
        resume_from=spec.resume_from,
    )
    if rank != 0:
        return  # rank 0 evaluates, saves and reports
    if state["cancel"]:
        client.cancelled(job, protocol.Heartbeat(attempt=attempt, step=result.step))
        return
    tuned = result.model
    predictions = []
    for item in eval_items:
        output = generate(tuned, tokenizer, item.content, max_new_tokens=gen)[0]
        base = base_outputs[item.item_id]
        base_scores, tuned_scores = score(item, base), score(item, output)
        predictions.append(
            protocol.Prediction(
                item_id=item.item_id,
                kind=item.content.kind,
                reference=item.content.output,
                base_output=base,
                tuned_output=output,
                scores={
                    **{f"base_{k}": v for k, v in base_scores.items()},
                    **{f"tuned_{k}": v for k, v in tuned_scores.items()},
                },
            )
        )
    if predictions:
        client.predictions(job, protocol.PredictionBatch(attempt=attempt, predictions=predictions))
    summary = {
        "final_train_loss": result.losses[-1] if result.losses else None,
        "padding_fraction": result.padding_fraction,
        "steps": result.step,
    }
    if eval_items:
        summary["eval_loss"] = evaluate_loss(tuned, tokenizer, [i.content for i in eval_items], cfg)
        for side in ("base", "tuned"):
            for name in ("exact_match", "f1", "rouge_l"):
                values = [p.scores[f"{side}_{name}"] for p in predictions]
                summary[f"{side}_{name}"] = sum(values) / len(values)
    tuned.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    # After save_pretrained: PEFT writes a stub README.md there, which the card replaces.
    write_model_card(
        out / "model", spec, summary, train_count=len(train_items), eval_count=len(eval_items)
    )
    if spec.params.method == "lora" and spec.params.save_merged:
        # Last, because merging folds the adapter into the base weights in place.
        say("saving the merged model")
        merged = tuned.merge_and_unload()
        merged.save_pretrained(out / "model" / "merged")
        tokenizer.save_pretrained(out / "model" / "merged")
    client.complete(
        job, protocol.Completion(attempt=attempt, metrics=summary, artifacts=[str(out / "model")])
    )


def _ranks() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 1, 0  # not under torchrun: no need to import torch to poll
    from trainer.ranks import world

    return world()


def _share(spec: protocol.JobSpec | None) -> protocol.JobSpec | None:
    import torch.distributed as dist

    box = [spec.model_dump(mode="json") if spec else None]
    dist.broadcast_object_list(box, src=0)
    return protocol.JobSpec.model_validate(box[0]) if box[0] else None


def serve(
    url: str, token: str, *, once: bool = False, poll: float = 3.0, exit_with_parent: bool = False
) -> None:
    client = AppClient(url, token)
    ranks, rank = _ranks()
    name = worker_name() + (f"x{ranks}" if ranks > 1 else "")
    parent = os.getppid()
    log.info("worker %s polling %s", name, url)
    while True:
        if exit_with_parent and os.getppid() != parent:
            # Started by `studio run`, which is gone: a worker of nothing should not linger.
            log.info("the process that started this worker has exited; stopping")
            return
        spec = None
        if rank == 0:
            try:
                spec = client.claim(name)
            except httpx.TransportError as error:
                # The app may still be starting (make run starts both at once) or restarting.
                log.warning("cannot reach %s (%s); retrying in %ss", url, error, poll)
                time.sleep(poll)
                continue
        if ranks > 1:
            spec = _share(spec)  # under torchrun, rank 0 claims for everyone
        if spec is None:
            if once:
                return
            time.sleep(poll)
            continue
        log.info("claimed job %s (attempt %s)", spec.job_id, spec.attempt)
        try:
            run_job(client, spec)
        except Exception as error:  # noqa: BLE001 - report any failure on the job
            log.exception("job %s failed", spec.job_id)
            if rank != 0:
                raise  # torchrun stops the other ranks; rank 0 reports what it saw
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            try:
                client.fail(
                    spec.job_id, protocol.Failure(attempt=spec.attempt, error=detail[:20_000])
                )
            except RuntimeError:
                log.exception("could not report the failure")
            if ranks > 1:
                # The other ranks may be waiting in a collective: end the group; torchrun
                # stops them, and the supervisor (compose, systemd) starts a fresh one.
                raise SystemExit(1) from error
        if once:
            return
