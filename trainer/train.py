"""The training loop, read top to bottom: data, model, loop. Its configuration is
``app.core.protocol.JobParams``; its length is ``app.core.steps.total_steps``; evaluation is in
``trainer.evaluate`` and checkpoints in ``trainer.checkpoints``.

Loss (design §6): the sum of token losses over the response tokens of a whole optimizer step,
divided by the number of those tokens across every gradient-accumulation micro-batch. So k
micro-batches give the same gradient as one batch k times larger, and a long answer weighs as
much per token as a short one.

Under ``torchrun`` (data parallel over N processes) each rank takes every N-th micro-batch of
the same fixed order, the response-token count is summed over the ranks before dividing, and
the gradients are summed with ``all_reduce``: N ranks with batch size B take exactly the step
one process takes with batch size N·B. Rank 0 alone reports and writes checkpoints.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from app.core.kinds import ItemContent
from app.core.protocol import JobParams
from app.core.steps import micro_batches_per_epoch, total_steps
from trainer.checkpoints import checkpoint_path, load_checkpoint, save_checkpoint
from trainer.data import (
    IGNORE,
    EncodeStats,
    Example,
    collate_packed,
    collate_padded,
    encode_all,
    mask_kind_for,
    pack,
    padding_fraction,
)
from trainer.ranks import agree, device_for_rank, sum_gradients, sum_over_ranks, world

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: torch.nn.Module
    step: int
    total_steps: int
    losses: list[float]
    padding_fraction: float
    encode_stats: EncodeStats


StepCallback = Callable[[int, dict], bool | None]
EncodedCallback = Callable[[EncodeStats], None]


# --- data ------------------------------------------------------------------------------------


class Batches:
    """Micro-batches in a fixed order per epoch, so any step can be rebuilt on resume."""

    def __init__(self, examples: Sequence[Example], cfg: JobParams, pad_id: int, mask_kind: str):
        self.units = pack(examples, cfg.max_seq_len) if cfg.packing else list(examples)
        self.cfg, self.pad_id, self.mask_kind = cfg, pad_id, mask_kind
        self.per_epoch = micro_batches_per_epoch(len(self.units), cfg.batch_size)
        self._epoch, self._batches = -1, []

    def get(self, index: int) -> dict:
        epoch, i = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            # The order depends only on seed and epoch, never on RNG state, so resume matches.
            g = torch.Generator().manual_seed(self.cfg.seed + epoch)
            order = torch.randperm(len(self.units), generator=g).tolist()
            size = self.cfg.batch_size
            chunks = [
                [self.units[j] for j in order[k : k + size]] for k in range(0, len(order), size)
            ]
            self._batches = [self._collate(c) for c in chunks]
            self._epoch = epoch
        return self._batches[i]

    def all(self) -> list[dict]:
        return [self.get(i) for i in range(self.per_epoch)]

    def _collate(self, chunk) -> dict:
        if self.cfg.packing:
            return collate_packed(chunk, self.pad_id, mask_kind=self.mask_kind)
        return collate_padded(chunk, self.pad_id)


# --- model -----------------------------------------------------------------------------------


def _autocast(device: torch.device):
    """bf16 autocast on GPUs that have it; fp32 everywhere else (design §6)."""
    use = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use)


def on_device(model, batch: dict) -> dict:
    device = next(model.parameters()).device
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def prepare_model(model, cfg: JobParams):
    """fp32 weights on this rank's device; wrapped with a LoRA adapter when ``method == 'lora'``."""
    model = model.float().to(device_for_rank())
    if cfg.method == "lora":
        from peft import LoraConfig, PeftModel, get_peft_model

        if not isinstance(model, PeftModel):
            lora = LoraConfig(
                r=cfg.lora_rank,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules=list(cfg.lora_targets),
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, lora)
    elif cfg.method != "full":
        raise ValueError(f"unknown method {cfg.method!r}")
    return model


def make_optimizer(trainable: Sequence[torch.nn.Parameter], cfg: JobParams):
    groups = [
        {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=cfg.adam_betas)


def make_scheduler(optimizer, cfg: JobParams, steps: int):
    warmup = math.ceil(cfg.warmup_ratio * steps)

    def factor(step: int) -> float:
        if step < warmup:
            return step / warmup
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, steps - warmup)
        if cfg.schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# --- loop ------------------------------------------------------------------------------------


def loss_sum(model, batch: dict) -> tuple[torch.Tensor, int]:
    """Summed next-token loss over response targets, and how many targets there were."""
    batch = on_device(model, batch)
    with _autocast(batch["input_ids"].device):
        logits = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            position_ids=batch["position_ids"],
        ).logits
    targets = batch["labels"][:, 1:]
    total = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return total, int((targets != IGNORE).sum())


def train(
    model,
    tokenizer,
    examples: Sequence[ItemContent],
    cfg: JobParams,
    *,
    on_step: StepCallback | None = None,
    on_encoded: EncodedCallback | None = None,
    checkpoint_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Fine-tune ``model`` on ``examples``. ``on_step`` returning True stops after a checkpoint;
    ``on_encoded`` hears what encoding the examples cut or dropped (on rank 0)."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    encoded, stats = encode_all(tokenizer, examples, max_seq_len=cfg.max_seq_len)
    ranks, rank = world()
    if on_encoded and rank == 0:
        on_encoded(stats)
    if not encoded:
        raise ValueError("no example fits in max_seq_len")
    model = prepare_model(model, cfg)
    batches = Batches(encoded, cfg, tokenizer.pad_token_id, mask_kind_for(model))
    steps = total_steps(cfg, rows=len(batches.units), ranks=ranks)
    # Built once: which weights train does not change during a run.
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(trainable, cfg)
    scheduler = make_scheduler(optimizer, cfg, steps)
    step = load_checkpoint(resume_from, model, optimizer, scheduler) if resume_from else 0

    model.train()
    losses: list[float] = []
    per_step = cfg.grad_accum * ranks
    while step < steps:
        micro = [batches.get(step * per_step + j * ranks + rank) for j in range(cfg.grad_accum)]
        n_targets = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in micro)
        if ranks > 1:
            n_targets = int(sum_over_ranks(n_targets))
        step_loss = 0.0
        for batch in micro:
            total, _ = loss_sum(model, batch)
            # Divide by the whole step's count, not this micro-batch's: no mean of means.
            (total / max(1, n_targets)).backward()
            step_loss += total.item()
        if ranks > 1:
            sum_gradients(trainable)
            step_loss = sum_over_ranks(step_loss)
        grad_norm = None
        if cfg.max_grad_norm is not None:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm))
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        loss = step_loss / max(1, n_targets)
        losses.append(loss)
        metrics = {"loss": loss, "lr": lr, "grad_norm": grad_norm, "tokens": n_targets}
        metrics["epoch"] = step * per_step / batches.per_epoch
        metrics["total_steps"] = steps
        stop = bool(on_step(step, metrics)) if on_step and rank == 0 else False
        if ranks > 1:
            stop = agree(stop)
        save = step % cfg.checkpoint_interval == 0 or stop or step == steps
        if checkpoint_dir and rank == 0 and save:
            path = checkpoint_path(checkpoint_dir, step)
            save_checkpoint(path, model, optimizer, scheduler, step, cfg)
        if stop:
            break
    return TrainResult(model, step, steps, losses, padding_fraction(batches.all()), stats)
