"""Preference pairs for the DPO tests: every kind of prompt a pair may have (an instruction, one
with an input, a system prompt, a conversation's earlier turns, few-shot demonstrations)."""

from __future__ import annotations

from app.core.kinds import ItemContent
from app.core.protocol import JobParams

PAIRS = [
    ItemContent(
        kind="preference", instruction="Name a primary colour.", output="Red.", rejected="Banana."
    ),
    ItemContent(
        kind="preference",
        instruction="Add the numbers.",
        input="2 and 3",
        output="5",
        rejected="23, because the digits go side by side",
    ),
    ItemContent(
        kind="preference",
        system="Answer politely.",
        instruction="Write a short greeting.",
        output="Hello there, nice to meet you!",
        rejected="What do you want?",
    ),
    ItemContent(
        kind="preference",
        turns=[
            {"role": "user", "content": "Translate to French: good morning"},
            {"role": "assistant", "content": "bonjour"},
            {"role": "user", "content": "And good night?"},
        ],
        output="bonne nuit",
        rejected="good night",
    ),
    ItemContent(
        kind="preference",
        instruction="Give the opposite.",
        demos=[{"input": "hot", "output": "cold"}],
        input="tall",
        output="short",
        rejected="taller",
    ),
]


def texts(contents) -> list[str]:
    """Every word of the pairs (both answers), for a tokenizer that knows them."""
    from app.core.prompts import render_messages

    return [m["content"] for c in contents for m in render_messages(c)] + [
        c.rejected for c in contents
    ]


def dpo_cfg(**kw) -> JobParams:
    base = dict(
        objective="dpo",
        method="full",
        max_steps=3,
        learning_rate=1e-3,
        warmup_ratio=0.0,
        batch_size=len(PAIRS),
        max_seq_len=128,
        max_grad_norm=None,
        lora_dropout=0.0,
        seed=0,
    )
    return JobParams(**{**base, **kw})
