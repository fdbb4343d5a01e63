"""Run under `torchrun --nproc_per_node=2`: DPO on the tiny model data-parallel with gloo; saves
each rank's final parameters and step losses. `tests/trainer/test_dpo_distributed.py` drives it."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.trainer.pair_data import PAIRS, dpo_cfg
from trainer.train import train

BATCH_PER_RANK = 2


def pairs():
    """Eight pairs of different lengths (ranks see different token counts per step), so an
    epoch is whole micro-batches both for two ranks of 2 and for one process of 4."""
    more = [p.model_copy(update={"output": p.output + " Indeed."}) for p in PAIRS[:3]]
    return [*PAIRS, *more]


def config(batch_size: int):
    return dpo_cfg(max_steps=3, batch_size=batch_size, grad_accum=2, learning_rate=5e-3, seed=3)


def run(model_dir: str, batch_size: int):
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return train(model, tokenizer, pairs(), config(batch_size))


def main() -> None:
    model_dir, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    result = run(model_dir, BATCH_PER_RANK)
    state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
    torch.save({"params": state, "losses": result.losses}, out / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
