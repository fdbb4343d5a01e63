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

Packing changes speed, not the optimisation (``pack_plan``): a packed micro-batch holds about
as many real tokens as the unpacked one would on average, ``batch_size`` times the mean example
length (or ``tokens_per_step`` spread over the step's micro-batches, when set). Packing every
row full to ``max_seq_len`` instead would put several unpacked batches' tokens into one step and
take that many times fewer steps per epoch, and at the same learning rate and epochs a run ends
at a visibly higher loss.

What a row is depends on the objective: supervised fine-tuning packs (or pads) the training
split's items but the preference pairs; DPO reads the pairs only, one pair a row (its chosen
and rejected sequences together), so an epoch of DPO holds as many rows as training pairs.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

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


def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit-decreasing into rows of ``capacity`` tokens; an example longer than that (but
    within ``max_seq_len``) has a row of its own, first, as the longest come first."""
    alone = [[i] for i, n in enumerate(lengths) if n > capacity]
    rest = [i for i, n in enumerate(lengths) if n <= capacity]
    packed = first_fit_decreasing([lengths[i] for i in rest], capacity)
    return alone + [[rest[j] for j in row] for row in packed]


@dataclass(frozen=True)
class PackPlan:
    """How packing lays out one epoch: ``rows`` of example indices, each up to ``capacity``
    tokens (an example longer than that alone), and ``batches``, the micro-batches, each a list
    of indices into ``rows`` holding about ``batch_tokens`` real tokens."""

    rows: list[list[int]]
    batches: list[list[int]]
    capacity: int
    batch_tokens: int

    def tokens_per_step(self, params: JobParams, ranks: int = 1) -> int:
        return self.batch_tokens * params.grad_accum * ranks


def batch_tokens(lengths: Sequence[int], params: JobParams, ranks: int = 1) -> int:
    """The real tokens one packed micro-batch (of one rank) holds: ``tokens_per_step`` over the
    step's micro-batches when set, else what ``batch_size`` unpacked examples hold on average."""
    if params.tokens_per_step is not None:
        return max(1, math.ceil(params.tokens_per_step / (params.grad_accum * ranks)))
    mean = sum(lengths) / len(lengths) if lengths else 0
    return max(1, round(params.batch_size * mean))


def pack_plan(lengths: Sequence[int], params: JobParams, ranks: int = 1) -> PackPlan:
    """Equal-work packing: as many micro-batches as the unpacked epoch has (``tokens_per_step``
    set directly: the epoch's tokens over its budget), each holding about ``batch_tokens``.

    Examples go into rows by first-fit-decreasing, a micro-batch's budget shared evenly between
    as few rows as ``max_seq_len`` allows (1,000 tokens with rows of 512 are two rows of up to
    500, not a full row and a half-empty one), so rows fit their micro-batch with little
    padding. The rows are then dealt longest first, each to the micro-batch holding the fewest
    tokens so far, which evens the micro-batches out. Rows are made shorter while there are
    fewer of them than micro-batches (with a batch of one example, where packing has nothing to
    gain, down to an example a row)."""
    budget = batch_tokens(lengths, params, ranks)
    if params.tokens_per_step is not None:
        # A budget under one example still gives each micro-batch one example: no more
        # micro-batches than examples.
        count = min(len(lengths), max(1, round(sum(lengths) / budget)))
    else:
        count = micro_batches_per_epoch(len(lengths), params.batch_size)
    capacity = math.ceil(budget / math.ceil(budget / params.max_seq_len))
    rows = pack_rows(lengths, capacity)
    # Shorter rows until there are enough: at worst (capacity 0) every example alone, which is
    # as many rows as examples, never fewer than ``count``.
    while len(rows) < count:
        capacity = capacity * 9 // 10
        rows = pack_rows(lengths, capacity)
    return PackPlan(rows, deal([sum(lengths[i] for i in r) for r in rows], count), capacity, budget)


def deal(sizes: Sequence[int], count: int) -> list[list[int]]:
    """Indices into ``sizes`` in ``count`` groups (fewer when there are fewer sizes), largest
    first, each to the group with the smallest total so far (the lowest index on a tie)."""
    order = sorted(range(len(sizes)), key=sizes.__getitem__, reverse=True)
    groups: list[list[int]] = [[] for _ in range(min(count, len(sizes)))]
    heap = [(0, g) for g in range(len(groups))]
    for index in order:
        total, g = heapq.heappop(heap)
        groups[g].append(index)
        heapq.heappush(heap, (total + sizes[index], g))
    return groups


def micro_batches_per_epoch(rows: int, batch_size: int) -> int:
    """One pass over ``rows`` (packed rows, or examples without packing), the last one short."""
    return math.ceil(rows / batch_size)


def total_steps(
    params: JobParams, *, rows: int, ranks: int = 1, rows_per_batch: int | None = None
) -> int:
    """Optimizer steps a job runs over ``rows`` per epoch on ``ranks`` data-parallel ranks:
    ``max_steps`` when set, else the epochs' micro-batches over those one step takes. A
    micro-batch is ``rows_per_batch`` rows (a ``PackPlan``'s), else ``batch_size``."""
    if params.max_steps is not None:
        return params.max_steps
    per_epoch = micro_batches_per_epoch(rows, rows_per_batch or params.batch_size)
    per_step = params.grad_accum * ranks
    return max(1, math.ceil((params.epochs or 1) * per_epoch / per_step))


def steps_per_epoch(
    params: JobParams, *, rows: int, ranks: int = 1, rows_per_batch: int | None = None
) -> float:
    """Optimizer steps one pass over the data takes; a fraction when steps straddle epochs."""
    per_epoch = micro_batches_per_epoch(rows, rows_per_batch or params.batch_size)
    return per_epoch / (params.grad_accum * ranks)
