"""A tiny offline model built once per session from a handful of items."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from app.core.kinds import ItemContent  # noqa: E402
from app.core.prompts import render_messages  # noqa: E402
from trainer.tiny import build_tiny  # noqa: E402

# Tiny matrices gain nothing from threads, and on a busy 2-core box they contend badly.
torch.set_num_threads(1)

ITEMS = [
    ItemContent(kind="task", instruction="Name a primary colour.", output="Red."),
    ItemContent(kind="task", instruction="Add the numbers.", input="2 and 3", output="5"),
    ItemContent(
        kind="task", instruction="Translate to French.", input="good morning", output="bonjour"
    ),
    ItemContent(
        kind="task",
        instruction="Write a short greeting.",
        output="Hello there, nice to meet you!",
    ),
]


def corpus(items) -> list[str]:
    return [m["content"] for item in items for m in render_messages(item)]


@pytest.fixture(scope="session")
def items() -> list[ItemContent]:
    return list(ITEMS)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return build_tiny(corpus(ITEMS), tmp_path_factory.mktemp("tiny"), vocab_size=400)


@pytest.fixture(scope="session")
def tiny_pad_eos_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_pad_eos")
    return build_tiny(corpus(ITEMS), out, vocab_size=400, pad_is_eos=True)


@pytest.fixture
def tokenizer(tiny_dir):
    return AutoTokenizer.from_pretrained(tiny_dir)


def load_model(path, attn: str = "sdpa"):
    return AutoModelForCausalLM.from_pretrained(path, attn_implementation=attn)


@pytest.fixture
def model(tiny_dir):
    return load_model(tiny_dir)
