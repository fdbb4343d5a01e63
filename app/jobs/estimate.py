"""Before launching: how many tokens an epoch holds and how many optimizer steps a job takes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import islice

from sqlalchemy.orm import Session

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
    steps_per_epoch: int
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
    if params.packing and tokens is not None:
        rows = max(1, math.ceil(tokens / params.max_seq_len))
    else:
        rows = n
    per_epoch = max(1, math.ceil(math.ceil(rows / params.batch_size) / params.grad_accum))
    total = params.max_steps or max(1, math.ceil(per_epoch * (params.epochs or 1)))
    return Estimate(n, tokens, per_epoch, total, len(lengths))
