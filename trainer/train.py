"""The training loop, read top to bottom: config, data, model, loop, eval, checkpoint.

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

import json
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from app.core.kinds import ItemContent
from app.core.prompts import prompt_messages
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

# --- config ----------------------------------------------------------------------------------


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    method: str = _f("lora", "'lora' trains a low-rank adapter; 'full' trains every weight.")
    epochs: float | None = _f(3, "Passes over the data; ignored when max_steps is set.")
    max_steps: int | None = _f(None, "Optimizer steps to run; overrides epochs.")
    learning_rate: float = _f(2e-4, "Peak learning rate, reached at the end of warmup.")
    schedule: str = _f("cosine", "Decay after warmup: 'cosine', 'linear' or 'constant'.")
    warmup_ratio: float = _f(0.03, "Share of the steps spent ramping the learning rate up from 0.")
    batch_size: int = _f(8, "Rows per micro-batch (packed rows with packing, else examples).")
    grad_accum: int = _f(1, "Micro-batches per optimizer step.")
    max_seq_len: int = _f(512, "Longest row in tokens; longer examples lose their tail.")
    packing: bool = _f(True, "Pack examples into rows with a block-diagonal mask (less padding).")
    lora_rank: int = _f(16, "LoRA rank r.")
    lora_alpha: int = _f(32, "LoRA scale numerator: updates are scaled by alpha / r.")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA input.")
    lora_targets: list[str] = field(
        default_factory=lambda: ["q_proj", "v_proj"],
        metadata={"help": "Module names that get a LoRA adapter."},
    )
    weight_decay: float = _f(0.0, "AdamW weight decay, on matrices only (not norms or biases).")
    adam_betas: tuple[float, float] = _f((0.9, 0.999), "AdamW betas.")
    max_grad_norm: float | None = _f(1.0, "Clip the gradient norm to this; None turns it off.")
    checkpoint_interval: int = _f(100, "Save a checkpoint every this many optimizer steps.")
    seed: int = _f(42, "Seeds data order, LoRA init and dropout.")

    @classmethod
    def from_job(cls, params) -> TrainConfig:
        """From ``app.core.protocol.JobParams``; fields the trainer has no use for are skipped."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.model_dump().items() if k in names})

    def help(self) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(self)}


@dataclass
class TrainResult:
    model: torch.nn.Module
    step: int
    total_steps: int
    losses: list[float]
    padding_fraction: float
    encode_stats: EncodeStats


StepCallback = Callable[[int, dict], bool | None]


# --- data ------------------------------------------------------------------------------------


class Batches:
    """Micro-batches in a fixed order per epoch, so any step can be rebuilt on resume."""

    def __init__(self, examples: Sequence[Example], cfg: TrainConfig, pad_id: int, mask_kind: str):
        self.units = pack(examples, cfg.max_seq_len) if cfg.packing else list(examples)
        self.cfg, self.pad_id, self.mask_kind = cfg, pad_id, mask_kind
        self.per_epoch = math.ceil(len(self.units) / cfg.batch_size)
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


def total_steps(cfg: TrainConfig, micro_batches_per_epoch: int, world: int = 1) -> int:
    if cfg.max_steps is not None:
        return cfg.max_steps
    per_step = cfg.grad_accum * world
    return max(1, math.ceil((cfg.epochs or 1) * micro_batches_per_epoch / per_step))


# --- model -----------------------------------------------------------------------------------


def _autocast(device: torch.device):
    """bf16 autocast on GPUs that have it; fp32 everywhere else (design §6)."""
    use = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use)


def _on(model, batch: dict) -> dict:
    device = next(model.parameters()).device
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def prepare_model(model, cfg: TrainConfig):
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


def make_optimizer(model, cfg: TrainConfig):
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=cfg.adam_betas)


def make_scheduler(optimizer, cfg: TrainConfig, steps: int):
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
    batch = _on(model, batch)
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
    cfg: TrainConfig,
    *,
    on_step: StepCallback | None = None,
    checkpoint_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Fine-tune ``model`` on ``examples``. ``on_step`` returning True stops after a checkpoint."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    encoded, stats = encode_all(tokenizer, examples, max_seq_len=cfg.max_seq_len)
    if not encoded:
        raise ValueError("no example fits in max_seq_len")
    model = prepare_model(model, cfg)
    batches = Batches(encoded, cfg, tokenizer.pad_token_id, mask_kind_for(model))
    ranks, rank = world()
    steps = total_steps(cfg, batches.per_epoch, ranks)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg, steps)
    step = load_checkpoint(resume_from, model, optimizer, scheduler) if resume_from else 0
    trainable = [p for p in model.parameters() if p.requires_grad]

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
            params = [p for p in model.parameters() if p.requires_grad]
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
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
            path = Path(checkpoint_dir) / f"step-{step}"
            save_checkpoint(path, model, optimizer, scheduler, step, cfg)
        if stop:
            break
    return TrainResult(model, step, steps, losses, padding_fraction(batches.all()), stats)


# --- eval ------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate_loss(model, tokenizer, examples: Sequence[ItemContent], cfg: TrainConfig) -> float:
    """Mean loss per response token over ``examples``, computed the way training computes it."""
    encoded, _ = encode_all(tokenizer, examples, max_seq_len=cfg.max_seq_len)
    batches = Batches(encoded, cfg, tokenizer.pad_token_id, mask_kind_for(model))
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches.all():
        s, n = loss_sum(model, batch)
        total, count = total + s.item(), count + n
    model.train(was_training)
    return total / max(1, count)


@torch.no_grad()
def item_dynamics(
    model, tokenizer, examples: Sequence[ItemContent], cfg: TrainConfig
) -> list[tuple[float, float] | None]:
    """Per item: mean loss over its response tokens and the mean probability the model gives
    the reference tokens (the confidence of Swayamdipta et al., 2020). ``None`` for an item that
    does not fit in ``max_seq_len``."""
    was_training = model.training
    model.eval()
    result: list[tuple[float, float] | None] = []
    for content in examples:
        encoded, _ = encode_all(tokenizer, [content], max_seq_len=cfg.max_seq_len)
        if not encoded:
            result.append(None)
            continue
        batch = _on(model, collate_padded(encoded, tokenizer.pad_token_id))
        logits = (
            model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                position_ids=batch["position_ids"],
            )
            .logits[0, :-1]
            .float()
        )
        targets = batch["labels"][0, 1:]
        keep = targets != IGNORE
        log_probs = torch.log_softmax(logits[keep], dim=-1)
        picked = log_probs.gather(1, targets[keep].unsqueeze(1)).squeeze(1)
        result.append((float(-picked.mean()), float(picked.exp().mean())))
    model.train(was_training)
    return result


@torch.no_grad()
def generate(
    model, tokenizer, content: ItemContent, *, max_new_tokens: int = 128
) -> tuple[str, bool]:
    """Greedy completion of the item's prompt: the text, and whether it stopped at EOS."""
    prompt = tokenizer.apply_chat_template(
        prompt_messages(content), add_generation_prompt=True, tokenize=False
    )
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )[0, ids.shape[1] :].tolist()
    model.train(was_training)
    stopped = tokenizer.eos_token_id in out
    if stopped:
        out = out[: out.index(tokenizer.eos_token_id)]
    return tokenizer.decode(out, skip_special_tokens=True), stopped


# --- checkpoint ------------------------------------------------------------------------------


def save_checkpoint(path: Path, model, optimizer, scheduler, step: int, cfg: TrainConfig) -> Path:
    """Weights (or the adapter), optimizer, scheduler, RNG state, step and config."""
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    torch.save(optimizer.state_dict(), path / "optimizer.pt")
    torch.save(scheduler.state_dict(), path / "scheduler.pt")
    torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, path / "rng.pt")
    state = {"step": step, "config": asdict(cfg)}
    (path / "trainer_state.json").write_text(json.dumps(state, indent=2))
    return path


def load_checkpoint(path: str | Path, model, optimizer, scheduler) -> int:
    """Restore everything ``save_checkpoint`` wrote into a fresh run; returns the step."""
    path = Path(path)
    adapter = path / "adapter_model.safetensors"
    if adapter.exists():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(adapter))
    else:
        model.load_state_dict(load_file(path / "model.safetensors"))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    rng = torch.load(path / "rng.pt", weights_only=False)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    return json.loads((path / "trainer_state.json").read_text())["step"]
