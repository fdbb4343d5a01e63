"""From item content to model inputs: encoding, response-only labels, packing and collation.

Design §6 in code:

- labels are -100 on the prompt; the response and exactly one EOS carry the loss;
- the tokenized prompt must be a prefix of the tokenized conversation (mismatches are counted);
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
from app.core.prompts import prompt_messages, render_messages
from app.core.steps import first_fit_decreasing

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
    """What went wrong while encoding, so a run can report it instead of failing silently."""

    prefix_mismatches: int = 0
    truncated: int = 0
    dropped: int = 0


def encode_example(
    tokenizer,
    content: ItemContent,
    *,
    max_seq_len: int | None = None,
    stats: EncodeStats | None = None,
) -> Example | None:
    """Tokenize one item; ``None`` when even the prompt does not fit in ``max_seq_len``."""
    stats = stats if stats is not None else EncodeStats()
    prompt_text = tokenizer.apply_chat_template(
        prompt_messages(content), add_generation_prompt=True, tokenize=False
    )
    full_text = tokenizer.apply_chat_template(render_messages(content), tokenize=False)
    prompt_ids = _tokenize(tokenizer, prompt_text)
    full_ids = _tokenize(tokenizer, full_text)

    n_prompt = len(prompt_ids)
    if full_ids[:n_prompt] != prompt_ids:
        # A merge across the prompt/response seam; split at the longest common prefix instead.
        stats.prefix_mismatches += 1
        log.warning("tokenized prompt is not a prefix of the full text; splitting at the seam")
        n_prompt = _common_prefix(prompt_ids, full_ids)

    eos = tokenizer.eos_token_id
    # The template ends the turn with eos_token; a template that does not gets it appended here.
    # Either way the response ends in exactly one EOS.
    while len(full_ids) > n_prompt and full_ids[-1] == eos:
        full_ids.pop()
    full_ids.append(eos)
    labels = [IGNORE] * n_prompt + full_ids[n_prompt:]

    if max_seq_len is not None and len(full_ids) > max_seq_len:
        if n_prompt >= max_seq_len:
            stats.dropped += 1
            return None
        # Cutting the response drops its EOS: teaching the model to stop mid-answer would be worse
        # than not teaching it to stop on this one item.
        stats.truncated += 1
        full_ids, labels = full_ids[:max_seq_len], labels[:max_seq_len]
    return Example(full_ids, labels)


def encode_all(
    tokenizer, contents: Sequence[ItemContent], *, max_seq_len: int
) -> tuple[list[Example], EncodeStats]:
    stats = EncodeStats()
    encoded = [encode_example(tokenizer, c, max_seq_len=max_seq_len, stats=stats) for c in contents]
    return [e for e in encoded if e is not None], stats


def _tokenize(tokenizer, text: str) -> list[int]:
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    bos = tokenizer.bos_token_id
    # A template that writes BOS itself plus a tokenizer that adds one would give two.
    if bos is not None and len(ids) >= 2 and ids[0] == bos and ids[1] == bos:
        ids = ids[1:]
    return list(ids)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


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
    """First-fit-decreasing (``app.core.steps``, which the launch form's estimate uses too)."""
    plan = first_fit_decreasing([len(e) for e in examples], max_len)
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
