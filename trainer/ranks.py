"""Ranks under torchrun: who we are, which device is ours, and the few collectives the
training loop needs. Outside torchrun there is one rank and none of these communicate."""

from __future__ import annotations

import os

import torch


def world() -> tuple[int, int]:
    """(number of ranks, this rank): (1, 0) outside torchrun."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def device_for_rank() -> torch.device:
    """This process's GPU (``LOCAL_RANK`` under torchrun), or the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def sum_over_ranks(value: float) -> float:
    import torch.distributed as dist

    # On this rank's device: NCCL only reduces GPU tensors.
    tensor = torch.tensor([value], dtype=torch.float64, device=device_for_rank())
    dist.all_reduce(tensor)
    return float(tensor.item())


def sum_gradients(params: list[torch.Tensor]) -> None:
    """Each rank holds d(its loss sum / all ranks' tokens); their sum is the step's gradient."""
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)


def agree(flag: bool) -> bool:
    """Rank 0's decision (stop or not), on every rank."""
    import torch.distributed as dist

    tensor = torch.tensor([int(flag)], device=device_for_rank())
    dist.broadcast(tensor, src=0)
    return bool(tensor.item())
