"""Before launching: how many tokens an epoch holds and how many optimizer steps a job takes."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from sqlalchemy.orm import Session

from app.core import steps
from app.core.kinds import ItemContent
from app.core.prompts import render_messages
from app.core.protocol import JobParams
from app.datasets.versions import pinned
from app.models import DatasetVersion
from app.tokenizer import count_tokens

SAMPLE = 2000
# Chat-template markup around each message (role markers, BOS/EOS), in tokens.
PER_MESSAGE_OVERHEAD = 4


@dataclass(frozen=True)
class Estimate:
    train_items: int
    tokens_per_epoch: int | None
    steps_per_epoch: float  # a fraction when optimizer steps straddle epochs
    total_steps: int
    sampled: int  # items measured; the rest is extrapolated


def item_tokens(snapshot: dict, max_seq_len: int) -> int | None:
    messages = render_messages(ItemContent.from_row(snapshot))
    counts = [count_tokens(m["content"]) for m in messages]
    if any(c is None for c in counts):
        return None
    return min(max_seq_len, sum(counts) + PER_MESSAGE_OVERHEAD * len(messages))


def estimate(session: Session, version: DatasetVersion, params: JobParams) -> Estimate:
    n = version.train_count
    lengths = [
        item_tokens(revision.snapshot, params.max_seq_len)
        for _link, revision in islice(pinned(session, version.id, "train"), SAMPLE)
    ]
    known = [x for x in lengths if x is not None]
    tokens = round(sum(known) * n / len(known)) if known and len(known) == len(lengths) else None
    rows = epoch_rows(lengths, n, params)
    return Estimate(
        train_items=n,
        tokens_per_epoch=tokens,
        steps_per_epoch=steps.steps_per_epoch(params, rows=rows),
        total_steps=steps.total_steps(params, rows=rows),
        sampled=len(lengths),
    )


def epoch_rows(lengths: list[int | None], items: int, params: JobParams) -> int:
    """Rows one epoch holds: one per item unpacked; packed, the measured sample packed as the
    trainer packs it, scaled to the split. Unmeasured lengths fall back to one row per item."""
    if not params.packing or not lengths or None in lengths:
        return items
    packed = len(steps.first_fit_decreasing(lengths, params.max_seq_len))
    return max(1, round(packed * items / len(lengths)))
