"""The runs of ``bench/trainer.py``: Hugging Face ``Trainer`` (default and length-grouped order),
ours (``trainer.train.train``, packed or not) and a naive loop, each from the same initial
weights with the reference settings, each timed per optimizer step by a ``quality.Stopwatch``
and, in the measured round, handed to a ``quality.Probe`` after each step.

Imported by ``bench/trainer.py`` after it has set the import path and the offline environment.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import datasets
import torch
from transformers import (
    AutoModelForCausalLM,
    DataCollatorForSeq2Seq,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from app.core.protocol import JobParams
from bench import quality
from trainer.train import sft_batches, train

# Design §7, reference settings.
BATCH_SIZE, EPOCHS, MAX_LEN, LEARNING_RATE = 8, 3, 512, 1e-3
SEED = 42


def fresh_model(path: Path):
    """The same initial weights for every run."""
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


# --- Hugging Face Trainer --------------------------------------------------------------------


class CountingCollator:
    """``DataCollatorForSeq2Seq`` that also counts real and padded positions of what it returns."""

    def __init__(self, inner):
        self.inner = inner
        self.real = self.positions = self.batches = 0

    def __call__(self, features):
        batch = self.inner(features)
        mask = batch["attention_mask"]
        self.real += int(mask.sum())
        self.positions += mask.numel()
        self.batches += 1
        return batch


class LoopClock(TrainerCallback):
    """The training loop only, from ``on_train_begin`` to ``on_train_end``, cut at each
    ``on_step_end`` (so data loading and collation count in the step that follows them)."""

    def __init__(self, stopwatch: quality.Stopwatch):
        self.marks: list[float] = []
        self.cpu = 0.0
        self.stopwatch = stopwatch

    def on_train_begin(self, args, state, control, **kwargs):
        self.marks = [self.stopwatch.now()]
        self.cpu = time.process_time()

    def on_step_end(self, args, state, control, **kwargs):
        self.marks.append(self.stopwatch.now())

    def on_train_end(self, args, state, control, **kwargs):
        self.marks.append(self.stopwatch.now())
        self.cpu = time.process_time() - self.cpu


class ProbeCallback(TrainerCallback):
    """Hands the model to a ``quality.Probe`` after each step (after ``LoopClock``'s mark)."""

    def __init__(self, probe: quality.Probe):
        self.probe = probe

    def on_train_begin(self, args, state, control, **kwargs):
        self.probe.start()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.probe.after_step(model, state.global_step, state.global_step >= state.max_steps)


def intervals(marks: list[float]) -> list[float]:
    return [b - a for a, b in zip(marks, marks[1:], strict=False)]


def hf_args(
    out: Path, strategy: str, epochs: float, max_steps: int = -1, bf16: bool = False
) -> TrainingArguments:
    return TrainingArguments(
        bf16=bf16,
        output_dir=str(out),
        per_device_train_batch_size=BATCH_SIZE,
        num_train_epochs=epochs,
        max_steps=max_steps,
        learning_rate=LEARNING_RATE,
        train_sampling_strategy=strategy,
        seed=SEED,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="steps",
        logging_steps=1,  # every step's loss, into state.log_history only (no printer)
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )


def hf_run(
    model_dir: Path,
    tokenizer,
    examples,
    strategy: str,
    epochs: float,
    probe=None,
    bf16: bool = False,
    **kw,
) -> dict:
    model = fresh_model(model_dir)
    dataset = datasets.Dataset.from_list(
        [
            {"input_ids": e.input_ids, "attention_mask": [1] * len(e), "labels": e.labels}
            for e in examples
        ]
    )
    collator = CountingCollator(DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100))
    clock = LoopClock(probe.stopwatch if probe else quality.Stopwatch())
    callbacks = [clock, ProbeCallback(probe)] if probe else [clock]
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            model=model,
            args=hf_args(Path(out), strategy, epochs, kw.get("max_steps", -1), bf16),
            train_dataset=dataset,
            data_collator=collator,
            processing_class=tokenizer,
            callbacks=callbacks,
        )
        trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
        start = time.perf_counter()
        trainer.train()
        call_s = time.perf_counter() - start
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {
        "model": trainer.model,
        "loop_s": clock.marks[-1] - clock.marks[0],
        "cpu_s": clock.cpu,
        "intervals": intervals(clock.marks),
        "call_s": call_s,
        "steps": len(clock.marks) - 2,
        "real_tokens": collator.real,
        "positions": collator.positions,
        "losses": losses,
        "optimizer": str(trainer.args.optim),
    }


# --- ours ------------------------------------------------------------------------------------


def our_config(
    packing: bool, epochs: float, max_steps: int | None = None, precision: str = "auto"
) -> JobParams:
    # Full fine-tuning and HF's default schedule (linear decay, no warmup), so the losses compare.
    return JobParams(
        method="full",
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=LEARNING_RATE,
        schedule="linear",
        warmup_ratio=0.0,
        batch_size=BATCH_SIZE,
        max_seq_len=MAX_LEN,
        packing=packing,
        seed=SEED,
        precision=precision,  # 'auto' is fp32 on the CPU, like HF's default
    )


def our_run(
    model_dir: Path,
    tokenizer,
    contents,
    examples,
    packing: bool,
    epochs: float,
    probe=None,
    precision: str = "auto",
) -> dict:
    model = fresh_model(model_dir)
    cfg = our_config(packing, epochs, precision=precision)
    stopwatch = probe.stopwatch if probe else quality.Stopwatch()
    cpu = time.process_time()
    marks = [stopwatch.now()]

    def on_step(step: int, metrics: dict) -> None:
        marks.append(stopwatch.now())
        if probe:
            # Full fine-tuning on the CPU trains the very model object given to train().
            probe.after_step(model, step, step >= metrics["total_steps"])

    if probe:
        probe.start()
    result = train(model, tokenizer, contents, cfg, on_step=on_step)
    assert result.model is model
    marks.append(stopwatch.now())
    cpu = time.process_time() - cpu
    call_s = marks[-1] - marks[0]
    # Every micro-batch the loop saw (all epochs), rebuilt exactly: the order depends on seed only.
    batches = sft_batches(examples, cfg, tokenizer.pad_token_id, "bool")
    seen = [batches.get(i) for i in range(result.step * cfg.grad_accum)]
    positions = sum(b["n_tokens"] for b in seen)
    pad = sum(b["n_pad"] for b in seen)
    return {
        "model": result.model,
        # The whole call: also encodes the items, packs and collates (HF gets tokens ready-made).
        "loop_s": call_s,
        "intervals": intervals(marks),
        "cpu_s": cpu,
        "call_s": call_s,
        "steps": result.step,
        "real_tokens": positions - pad,
        "positions": positions,
        "losses": result.losses,
        "trainer_reported_padding_fraction": round(result.padding_fraction, 4),
    }


# --- naive -------------------------------------------------------------------------------------


def naive_run(model_dir: Path, tokenizer, examples, epochs: float) -> dict:
    """What a first attempt looks like: every example padded to the maximum length, the loss on
    every token of prompt and response (padding masked), the mean per batch."""
    model = fresh_model(model_dir)
    pad = tokenizer.pad_token_id
    rows = torch.full((len(examples), MAX_LEN), pad, dtype=torch.long)
    mask = torch.zeros((len(examples), MAX_LEN), dtype=torch.long)
    for i, e in enumerate(examples):
        rows[i, : len(e)] = torch.tensor(e.input_ids)
        mask[i, : len(e)] = 1
    labels = rows.masked_fill(mask == 0, -100)
    steps_per_epoch = -(-len(examples) // BATCH_SIZE)
    total = int(steps_per_epoch * epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total))
    generator = torch.Generator().manual_seed(SEED)
    cpu = time.process_time()
    marks, losses, real = [time.perf_counter()], [], 0
    model.train()
    for step in range(total):
        if step % steps_per_epoch == 0:
            order = torch.randperm(len(examples), generator=generator)
        index = order[(step % steps_per_epoch) * BATCH_SIZE :][:BATCH_SIZE]
        out = model(input_ids=rows[index], attention_mask=mask[index], labels=labels[index])
        out.loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(out.loss.detach()))
        real += int(mask[index].sum())
        marks.append(time.perf_counter())
    return {
        "model": model,
        "loop_s": marks[-1] - marks[0],
        "intervals": intervals(marks),
        "cpu_s": time.process_time() - cpu,
        "call_s": marks[-1] - marks[0],
        "steps": total,
        "real_tokens": real,
        "positions": total * BATCH_SIZE * MAX_LEN,
        "losses": losses,
    }
