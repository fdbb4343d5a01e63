"""Run under `torchrun --nproc_per_node=N`: train the tiny model data-parallel with gloo and
save each rank's final parameters. `tests/trainer/test_distributed.py` drives it."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.optim.optimizer import register_optimizer_step_pre_hook
from transformers import AutoModelForCausalLM, AutoTokenizer

from app.core.kinds import ItemContent
from app.core.protocol import JobParams
from trainer.train import train

BATCH_PER_RANK = 2


def items() -> list[ItemContent]:
    """Sixteen items of different lengths, so ranks see different token counts per step; every
    fourth is a conversation (two answers in the loss)."""
    words = ["red", "green", "blue", "amber", "violet", "teal", "ochre", "ivory"]
    return [
        _conversation(words[i % 8], i % 3 + 1) if i % 4 == 3 else _task(words[i % 8], i % 3 + 1)
        for i in range(16)
    ]


def _task(word: str, n: int) -> ItemContent:
    return ItemContent(
        kind="task", instruction=f"Repeat the colour {word} {n} times.", output=" ".join([word] * n)
    )


def _conversation(word: str, n: int) -> ItemContent:
    return ItemContent(
        kind="conversation",
        system="Repeat what is asked.",
        turns=[
            {"role": "user", "content": f"Repeat the colour {word} {n} times."},
            {"role": "assistant", "content": " ".join([word] * n)},
            {"role": "user", "content": "Once more, please."},
            {"role": "assistant", "content": word},
        ],
    )


def config(batch_size: int) -> JobParams:
    return JobParams(
        method="full",
        max_steps=4,
        batch_size=batch_size,
        grad_accum=2,
        packing=False,
        learning_rate=1e-2,
        warmup_ratio=0.0,
        seed=3,
    )


# 16 items, 6 micro-batches of 3 an epoch, 1.5 epochs: 9 micro-batches, 4 a step on 2 ranks.
EPOCH_RUN = {"epochs": 1.5, "batch_size": 3, "grad_accum": 2}


def run(model_dir: str, batch_size: int):
    """The run, with ``first_gradients``: each weight's gradient as the first optimizer step
    applies it (on a rank, after the gradients are summed over the ranks)."""
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    names = {id(p): name for name, p in model.named_parameters()}
    first: dict[str, torch.Tensor] = {}

    def capture(optimizer, args, kwargs) -> None:
        for group in optimizer.param_groups:
            for p in group["params"]:
                if not first.get("done") and p.grad is not None:
                    first[names[id(p)]] = p.grad.detach().clone()
        first["done"] = torch.tensor(1)

    hook = register_optimizer_step_pre_hook(capture)
    try:
        result = train(model, tokenizer, items(), config(batch_size))
    finally:
        hook.remove()
    first.pop("done")
    result.first_gradients = first
    return result


def main() -> None:
    model_dir, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    result = run(model_dir, BATCH_PER_RANK)
    state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
    # A run by epochs: how many steps the ranks take between them (app.core.steps' rule).
    by_epochs = train(
        AutoModelForCausalLM.from_pretrained(model_dir),
        AutoTokenizer.from_pretrained(model_dir),
        items(),
        JobParams(**{**config(3).model_dump(), "max_steps": None, **EPOCH_RUN}),
    )
    torch.save(
        {
            "params": state,
            "gradients": result.first_gradients,
            "losses": result.losses,
            "epoch_run_steps": by_epochs.step,
        },
        out / f"rank{rank}.pt",
    )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
