"""Before launching: how many tokens an epoch holds and how many optimizer steps a job takes.

SFT passes over the training split's items but the preference pairs; DPO over its pairs, each
read twice (the prompt with the chosen response, and with the rejected one), one pair a row."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import steps
from app.core.kinds import ItemContent
from app.core.prompts import pair_messages, render_messages
from app.core.protocol import JobParams
from app.jobs import objective
from app.models import DatasetVersion, DatasetVersionItem, ItemRevision
from app.tokenizer import count_tokens

SAMPLE = 2000
# Chat-template markup around each message (role markers, BOS/EOS), in tokens.
PER_MESSAGE_OVERHEAD = 4


@dataclass(frozen=True)
class Estimate:
    train_items: int  # what one epoch passes over: SFT items, or pairs for DPO
    tokens_per_epoch: int | None
    steps_per_epoch: float  # a fraction when optimizer steps straddle epochs
    total_steps: int
    sampled: int  # items measured; the rest is extrapolated
    objective: str = "sft"
    tokens_per_step: int | None = None  # real tokens (prompts, responses) an optimizer step reads
    # The largest micro-batch's shape on the device, rows × width tokens (the memory estimate's)
    micro_batch: tuple[int, int] = (1, 1)


def _tokens(messages: list[dict[str, str]], max_seq_len: int) -> int | None:
    counts = [count_tokens(m["content"]) for m in messages]
    if any(c is None for c in counts):
        return None
    return min(max_seq_len, sum(counts) + PER_MESSAGE_OVERHEAD * len(messages))


def item_tokens(snapshot: dict, max_seq_len: int) -> int | None:
    return _tokens(render_messages(ItemContent.from_row(snapshot)), max_seq_len)


def pair_tokens(snapshot: dict, max_seq_len: int) -> int | None:
    """Both sequences of a pair: the prompt with the chosen response, and with the rejected."""
    prompt, chosen, rejected = pair_messages(ItemContent.from_row(snapshot))
    sides = [_tokens([*prompt, answer], max_seq_len) for answer in (chosen, rejected)]
    return None if None in sides else sum(sides)  # type: ignore[arg-type]


def _train_snapshots(session: Session, version_id: int, pairs: bool):
    """The training split's snapshots of pairs, or of every other kind, in split order."""
    kind = DatasetVersionItem.kind
    return session.scalars(
        select(ItemRevision.snapshot)
        .join(DatasetVersionItem, DatasetVersionItem.revision_id == ItemRevision.id)
        .where(DatasetVersionItem.version_id == version_id, DatasetVersionItem.split == "train")
        .where(kind == objective.PAIR if pairs else kind != objective.PAIR)
        .order_by(DatasetVersionItem.position)
        .limit(SAMPLE)
    )


def estimate(
    session: Session,
    version: DatasetVersion,
    params: JobParams,
    *,
    contents: objective.Contents | None = None,
) -> Estimate:
    held = contents or objective.contents(session, version)
    dpo = params.objective == "dpo"
    n = held.train_for(params.objective)
    measure = pair_tokens if dpo else item_tokens
    lengths = [
        measure(snapshot, params.max_seq_len)
        for snapshot in islice(_train_snapshots(session, version.id, dpo), SAMPLE)
    ]
    known = [x for x in lengths if x is not None]
    tokens = round(sum(known) * n / len(known)) if known and len(known) == len(lengths) else None
    # DPO reads one pair a row, unpacked: an epoch is as many rows as pairs, and a micro-batch
    # of pairs is one padded batch of their chosen and rejected sides.
    if dpo:
        layout = Layout(n, None, None, (2 * params.batch_size, params.max_seq_len))
    else:
        layout = epoch_layout(lengths, n, params)
    per_step = layout.tokens_per_step
    if per_step is None and known and len(known) == len(lengths):
        per_step = round(params.batch_size * params.grad_accum * sum(known) / len(known))
    return Estimate(
        train_items=n,
        tokens_per_epoch=tokens,
        steps_per_epoch=steps.steps_per_epoch(
            params, rows=layout.rows, rows_per_batch=layout.rows_per_batch
        ),
        total_steps=steps.total_steps(
            params, rows=layout.rows, rows_per_batch=layout.rows_per_batch
        ),
        sampled=len(lengths),
        objective=params.objective,
        tokens_per_step=per_step,
        micro_batch=layout.micro_batch,
    )


@dataclass(frozen=True)
class Layout:
    """One epoch as the trainer lays it out: rows, rows per micro-batch (``None``: the batch
    size) and, packed, the real tokens a step aims at. Packed, the unit is a whole micro-batch
    (``steps.PackPlan.batches``), one to a micro-batch. ``micro_batch``: the largest one's rows
    and width in tokens as the trainer collates it (unpacked, padded to its longest example:
    at worst ``max_seq_len``; packed, its rows padded to the longest of them)."""

    rows: int
    rows_per_batch: int | None
    tokens_per_step: int | None
    micro_batch: tuple[int, int] = (1, 1)


def epoch_layout(lengths: list[int | None], items: int, params: JobParams) -> Layout:
    """One row per item unpacked; packed, the measured sample packed as the trainer packs it
    (``steps.pack_plan``), scaled to the split. Unmeasured lengths fall back to one row per
    item."""
    worst = (params.batch_size, params.max_seq_len)
    if not params.packing or not lengths or None in lengths:
        return Layout(items, None, None, worst)
    plan = steps.pack_plan(lengths, params)  # type: ignore[arg-type]
    batches = max(1, round(len(plan.batches) * items / len(lengths)))
    return Layout(batches, 1, plan.tokens_per_step(params), packed_shape(plan, lengths))


def packed_shape(plan: steps.PackPlan, lengths: list[int]) -> tuple[int, int]:
    """The packed micro-batch that takes the most tokens on the device (rows × the longest
    row, padding included; the longer rows on a tie, for the attention's width²)."""
    widths = [sum(lengths[i] for i in row) for row in plan.rows]
    shapes = [(len(batch), max(widths[r] for r in batch)) for batch in plan.batches if batch]
    return max(shapes, key=lambda s: (s[0] * s[1], s[1]), default=(1, 1))
