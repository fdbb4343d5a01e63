"""How long a job runs, in rows and optimizer steps: one rule for the launch form's estimate
and the trainer.

The training loop (``trainer/train.py``) reads micro-batches as one stream that runs on across
epoch boundaries: optimizer step ``k`` takes micro-batches ``k·A·R … (k+1)·A·R − 1`` (``A`` the
gradient accumulation, ``R`` the ranks), and micro-batch ``i`` is batch ``i mod M`` of epoch
``i div M`` (``M`` micro-batches per epoch). A step may so straddle two epochs, and a run of
``E`` epochs takes ``ceil(E·M / (A·R))`` steps, not ``E·ceil(M / (A·R))`` as if every epoch
ended on a short step of its own. With 3 epochs of 5 micro-batches and accumulation 2 that is
8 steps (the last one borrows the first micro-batch of a fourth pass), not 9.

Packing is first-fit-decreasing over the examples' token lengths, here too, so an estimate
from measured lengths packs exactly as the trainer does; only the lengths themselves (the
model's tokenizer against the app's) can differ.

What a row is depends on the objective: supervised fine-tuning packs (or pads) the training
split's items but the preference pairs; DPO reads the pairs only, one pair a row (its chosen
and rejected sequences together), so an epoch of DPO holds as many rows as training pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from app.core.protocol import JobParams


def first_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Rows of indices into ``lengths``: longest first, each into the first row with room.

    Ties keep their input order (a stable sort), so a list always packs the same way. The
    first row with room is found in a max-tree over every row's free room, rows not yet
    opened included (they stand after the open ones with all their room), so packing takes
    O(n log n) rather than a scan of the open rows for each example."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
    size = 1
    while size < len(order):
        size *= 2
    free = [capacity] * (2 * size)  # leaves size… are rows; each node holds its subtree's max
    rows: list[list[int]] = []
    for index in order:
        length = lengths[index]
        if length > capacity:
            raise ValueError(f"an example of {length} tokens exceeds the row length {capacity}")
        node = 1
        while node < size:  # down to the leftmost row with room
            node = 2 * node if free[2 * node] >= length else 2 * node + 1
        row = node - size
        if row == len(rows):
            rows.append([])
        rows[row].append(index)
        free[node] -= length
        while node > 1:
            node //= 2
            free[node] = max(free[2 * node], free[2 * node + 1])
    return rows


def micro_batches_per_epoch(rows: int, batch_size: int) -> int:
    """One pass over ``rows`` (packed rows, or examples without packing), the last one short."""
    return math.ceil(rows / batch_size)


def total_steps(params: JobParams, *, rows: int, ranks: int = 1) -> int:
    """Optimizer steps a job runs over ``rows`` per epoch on ``ranks`` data-parallel ranks:
    ``max_steps`` when set, else the epochs' micro-batches over those one step takes."""
    if params.max_steps is not None:
        return params.max_steps
    per_epoch = micro_batches_per_epoch(rows, params.batch_size)
    per_step = params.grad_accum * ranks
    return max(1, math.ceil((params.epochs or 1) * per_epoch / per_step))


def steps_per_epoch(params: JobParams, *, rows: int, ranks: int = 1) -> float:
    """Optimizer steps one pass over the data takes; a fraction when steps straddle epochs."""
    return micro_batches_per_epoch(rows, params.batch_size) / (params.grad_accum * ranks)
