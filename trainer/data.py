"""From item content to model inputs: encoding, assistant-only labels, packing and collation.

Design §6 in code:

- labels are -100 on everything but the assistant turns: the system prompt, user turns, role
  headers, generation prompts and the separators a template writes after a turn are context;
- every assistant turn's content carries the loss, and so does exactly one end-of-turn token per
  turn: the one the chat template writes (EOS, or a special token such as ``<|im_end|>``), or an
  EOS inserted after the content when the template writes none. ``trainer.turns`` finds the
  turns from the template's own rendering and states the rule;
- seams where the template's pieces do not tokenize as a prefix of the whole are counted;
- a conversation longer than ``max_seq_len`` loses whole trailing exchanges, so it still ends
  with a complete assistant turn; only when even its first exchange does not fit is that answer
  cut (and the example dropped when the prompt alone does not fit);
- packed rows restart position ids per example and carry a 4D block-diagonal causal mask, because
  outside flash-attention position ids alone let a packed example attend to its neighbours;
- padding is masked through attention, never by comparing with the pad id (pad may equal EOS).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from app.core.kinds import ItemContent
from app.core.prompts import render_messages
from app.core.steps import pack_rows
from trainer.turns import render_turns

log = logging.getLogger(__name__)

IGNORE = -100


@dataclass
class Example:
    """One tokenized conversation; ``labels`` is aligned with ``input_ids`` (shifted at loss)."""

    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class EncodeStats:
    """What went wrong while encoding, so a run can report it instead of failing silently.

    Each example counts at most once in each field; ``truncated_at_turn``, ``truncated`` and
    ``dropped`` exclude one another."""

    prefix_mismatches: int = 0  # examples whose template pieces did not line up with the whole
    truncated_at_turn: int = 0  # conversations that kept their leading exchanges only
    truncated: int = 0  # examples cut inside an answer (it loses its end-of-turn token)
    dropped: int = 0  # examples whose prompt alone is longer than max_seq_len

    def any(self) -> bool:
        return bool(
            self.prefix_mismatches or self.truncated_at_turn or self.truncated or self.dropped
        )


def encode_example(
    tokenizer,
    content: ItemContent,
    *,
    max_seq_len: int | None = None,
    stats: EncodeStats | None = None,
) -> Example | None:
    """Tokenize one item; ``None`` when even its first prompt does not fit in ``max_seq_len``."""
    stats = stats if stats is not None else EncodeStats()
    rendered = render_turns(tokenizer, render_messages(content))
    if rendered.mismatches:
        stats.prefix_mismatches += 1
        log.warning("the chat template's pieces do not line up with the whole conversation")
    if not rendered.spans:
        return None  # no answer found in the template's text: nothing to learn from

    ids, labels = [], []
    starts, ends = [], []  # each assistant turn's first and one-past-last position
    done = 0
    source = rendered.ids
    for span in rendered.spans:
        ids += source[done : span.start]
        labels += [IGNORE] * (span.start - done)
        starts.append(len(ids))
        ids += source[span.start : span.end]
        labels += source[span.start : span.end]
        if not span.closed:
            # The template ends the turn with no token of its own: the model still has to
            # learn to stop here.
            ids.append(tokenizer.eos_token_id)
            labels.append(tokenizer.eos_token_id)
        ends.append(len(ids))
        done = span.end
    # What follows the last turn (a template's trailing newline) would teach nothing.

    if max_seq_len is None or len(ids) <= max_seq_len:
        return Example(ids, labels)
    fits = [end for end in ends if end <= max_seq_len]
    if fits:
        stats.truncated_at_turn += 1
        return Example(ids[: fits[-1]], labels[: fits[-1]])
    if not starts or starts[0] >= max_seq_len:
        stats.dropped += 1
        return None
    # Cutting the answer drops its end-of-turn token: teaching the model to stop mid-answer would
    # be worse than not teaching it to stop on this one item.
    stats.truncated += 1
    return Example(ids[:max_seq_len], labels[:max_seq_len])


def encode_all(
    tokenizer, contents: Sequence[ItemContent], *, max_seq_len: int
) -> tuple[list[Example], EncodeStats]:
    stats = EncodeStats()
    encoded = [encode_example(tokenizer, c, max_seq_len=max_seq_len, stats=stats) for c in contents]
    return [e for e in encoded if e is not None], stats


# --- packing ---------------------------------------------------------------------------------


@dataclass
class Row:
    """Several examples laid end to end; ``lengths`` marks where each one starts again."""

    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def add(self, example: Example) -> None:
        self.input_ids += example.input_ids
        self.labels += example.labels
        self.position_ids += range(len(example))
        self.lengths.append(len(example))

    def __len__(self) -> int:
        return len(self.input_ids)


def pack(examples: Sequence[Example], max_len: int) -> list[Row]:
    """First-fit-decreasing into rows of ``max_len`` (``app.core.steps``, which the launch
    form's estimate uses too); the trainer's packing chooses the row length by
    ``app.core.steps.pack_plan``."""
    return rows_of(examples, pack_rows([len(e) for e in examples], max_len))


def rows_of(examples: Sequence[Example], plan: Sequence[Sequence[int]]) -> list[Row]:
    """Each row of ``plan`` (indices into ``examples``) laid end to end."""
    rows = []
    for indices in plan:
        row = Row()
        for index in indices:
            row.add(examples[index])
        rows.append(row)
    return rows


# --- collation -------------------------------------------------------------------------------


def collate_packed(rows: Sequence[Row], pad_id: int, *, mask_kind: str = "bool") -> dict:
    """Rows into tensors with a block-diagonal causal mask of shape (batch, 1, L, L).

    ``mask_kind`` is ``"bool"`` (True = may attend; SDPA) or ``"float"`` (0 or the most negative
    float, added to the scores; eager attention).
    """
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    allowed = torch.zeros((len(rows), 1, width, width), dtype=torch.bool)
    for i, row in enumerate(rows):
        n = len(row)
        input_ids[i, :n] = torch.tensor(row.input_ids)
        labels[i, :n] = torch.tensor(row.labels)
        position_ids[i, :n] = torch.tensor(row.position_ids)
        start = 0
        for length in row.lengths:
            end = start + length
            causal = torch.ones(length, length, dtype=torch.bool).tril()
            allowed[i, 0, start:end, start:end] = causal
            start = end
        # Padding attends to itself only: a fully masked query row would turn SDPA's output to NaN.
        pad = torch.arange(n, width)
        allowed[i, 0, pad, pad] = True
    return {
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": position_ids,
        "attention_mask": _as_mask(allowed, mask_kind),
        "n_pad": sum(width - len(r) for r in rows),
        "n_tokens": len(rows) * width,
    }


def collate_padded(examples: Sequence[Example], pad_id: int) -> dict:
    """Unpacked batch, right-padded; padding is excluded by ``attention_mask`` and -100 labels."""
    width = max(len(e) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, example in enumerate(examples):
        n = len(example)
        input_ids[i, :n] = torch.tensor(example.input_ids)
        labels[i, :n] = torch.tensor(example.labels)
        attention_mask[i, :n] = 1
    return {
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": torch.arange(width).expand(len(examples), width).clone(),
        "attention_mask": attention_mask,
        "n_pad": int((attention_mask == 0).sum()),
        "n_tokens": attention_mask.numel(),
    }


def mask_kind_for(model) -> str:
    """Eager attention adds the mask to its scores; SDPA and the rest take a boolean mask."""
    impl = getattr(model.config, "_attn_implementation", None) or "sdpa"
    return "float" if impl == "eager" else "bool"


def _as_mask(allowed: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "bool":
        return allowed
    if kind == "float":
        blocked = torch.finfo(torch.float32).min
        return torch.zeros(allowed.shape).masked_fill(~allowed, blocked)
    raise ValueError(f"unknown mask kind {kind!r}")


def padding_fraction(batches: Sequence[dict]) -> float:
    """Share of the positions in ``batches`` that are padding; design §6 aims for under 5%."""
    total = sum(b["n_tokens"] for b in batches)
    return sum(b["n_pad"] for b in batches) / total if total else 0.0
