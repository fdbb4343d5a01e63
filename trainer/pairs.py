"""Preference pairs as model inputs: the prompt with the chosen answer and the prompt with the
rejected one, each encoded exactly as supervised fine-tuning encodes a conversation.

Both sides go through the same chat template and the same masking as SFT (``trainer.turns``,
``trainer.data``): the prompt (system prompt, earlier turns, role headers, the generation prompt)
is context with label -100, and the answer's tokens plus its one end-of-turn token carry the
labels. Only the final answer is labelled: a pair whose prompt holds a conversation's earlier
assistant turns learns nothing from them, since DPO compares the two answers alone.

Truncation keeps the prompt and cuts the answers (the pair is counted as ``truncated``); a pair
whose prompt alone leaves no room for an answer token is left out (counted as ``dropped``).

A batch of pairs is one padded batch of ``2·B`` rows, the chosen sides first and the rejected
sides after them, so one forward pass scores both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from app.core.kinds import ItemContent, ItemKind
from app.core.prompts import pair_messages
from trainer.data import IGNORE, EncodeStats, Example, collate_padded
from trainer.turns import render_turns

log = logging.getLogger(__name__)


@dataclass
class Pair:
    """One encoded pair; ``source`` is its position in the contents it was encoded from and
    ``slot`` its position among the pairs that fit (where its reference log-probs are kept)."""

    chosen: Example
    rejected: Example
    source: int
    slot: int = -1

    def __len__(self) -> int:
        return len(self.chosen) + len(self.rejected)


def is_pair(content: ItemContent) -> bool:
    return content.kind is ItemKind.preference


def encode_side(tokenizer, prompt: list[dict], answer: dict) -> tuple[Example, int, bool] | None:
    """The prompt followed by one answer, labelled on the answer and its end-of-turn token
    only; also the answer's first position and whether the template's pieces lined up.
    ``None`` when the template's text does not hold the answer."""
    messages = [*prompt, answer]
    rendered = render_turns(tokenizer, messages)
    final = [s for s in rendered.spans if s.message == len(messages) - 1]
    if not final:
        return None
    span = final[0]
    ids = rendered.ids[: span.end]
    labels = [IGNORE] * span.start + ids[span.start :]
    if not span.closed:
        # As in SFT: a template that writes no end-of-turn token gets an EOS, so the answer
        # is scored on stopping too.
        ids = [*ids, tokenizer.eos_token_id]
        labels = [*labels, tokenizer.eos_token_id]
    return Example(ids, labels), span.start, not rendered.mismatches


def encode_pair(
    tokenizer,
    content: ItemContent,
    *,
    max_seq_len: int | None = None,
    stats: EncodeStats | None = None,
    source: int = 0,
) -> Pair | None:
    """Tokenize one pair; ``None`` when its prompt leaves no room for an answer."""
    stats = stats if stats is not None else EncodeStats()
    prompt, chosen, rejected = pair_messages(content)
    sides = [encode_side(tokenizer, prompt, answer) for answer in (chosen, rejected)]
    if any(side is None for side in sides):
        stats.prefix_mismatches += 1
        stats.dropped += 1
        log.warning("an answer of a pair is not in the template's rendering; pair left out")
        return None
    if not all(exact for _, _, exact in sides):
        stats.prefix_mismatches += 1
        log.warning("the chat template's pieces do not line up with a pair's rendering")
    if max_seq_len is None or all(len(example) <= max_seq_len for example, _, _ in sides):
        return Pair(sides[0][0], sides[1][0], source)
    if any(start >= max_seq_len for _, start, _ in sides):
        stats.dropped += 1
        return None
    stats.truncated += 1
    cut = [Example(e.input_ids[:max_seq_len], e.labels[:max_seq_len]) for e, _, _ in sides]
    return Pair(cut[0], cut[1], source)


def encode_pairs(
    tokenizer, contents: Sequence[ItemContent], *, max_seq_len: int
) -> tuple[list[Pair], EncodeStats]:
    """The pairs that fit, each with its ``source`` and ``slot``, and what encoding cut."""
    stats = EncodeStats()
    pairs = []
    for source, content in enumerate(contents):
        pair = encode_pair(tokenizer, content, max_seq_len=max_seq_len, stats=stats, source=source)
        if pair is not None:
            pair.slot = len(pairs)
            pairs.append(pair)
    return pairs, stats


def collate_pairs(pairs: Sequence[Pair], pad_id: int) -> dict:
    """Rows ``0..B-1`` are the chosen sides and ``B..2B-1`` the rejected ones, right-padded
    together; ``slots`` says which pairs they are."""
    rows = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    batch = collate_padded(rows, pad_id)
    batch["slots"] = torch.tensor([p.slot for p in pairs], dtype=torch.long)
    batch["pairs"] = len(pairs)
    return batch
