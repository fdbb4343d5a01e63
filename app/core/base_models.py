"""Which base models a job may name: ``tiny``, a hub id (``org/name``), or a local folder
inside one of the configured model roots (the setting ``model_roots``; none means no local
folders). The app checks at launch and the trainer again before it loads, where it knows the
roots, since a base model is a path the worker will read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

# A hub id, org/name: no "..", so it can never be read as a relative path upwards.
HUB_ID = re.compile(r"(?!.*\.\.)[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")
LOCAL_PREFIXES = ("/", "./", "../", "~")


REASONS = {
    "invalid": "it is neither tiny, a hub id like org/name, nor an absolute path",
    "off": "no local base models are allowed here (no model roots are set)",
    "relative": "a local base model must be given by its absolute path",
    "dots": "a local base model's path may not contain ..",
    "outside": "the folder is not inside one of the model roots (links are followed)",
}


class ModelPathRefused(ValueError):
    """A base model this rule refuses; ``reason`` is a key of ``REASONS``."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"The base model {value!r} is refused: {REASONS[reason]}.")
        self.reason = reason


def check(value: str, roots: Sequence[str | Path]) -> str:
    """``value`` if a job may name it as its base model, else ``ModelPathRefused``."""
    if value == "tiny" or HUB_ID.fullmatch(value):
        return value
    if not is_local_model(value):
        raise ModelPathRefused(value, "invalid")
    local_model_path(value, roots)
    return value


def is_local_model(value: str) -> bool:
    return value.startswith(LOCAL_PREFIXES)


def local_model_path(value: str, roots: Sequence[str | Path]) -> Path:
    """The folder a local base model names, when it lies inside one of ``roots`` both as
    written and once every link is followed; otherwise ``ModelPathRefused``."""
    if not roots:
        raise ModelPathRefused(value, "off")
    if not os.path.isabs(value):
        raise ModelPathRefused(value, "relative")  # ~ and ./ mean another place on each machine
    path = Path(value)
    if ".." in path.parts:
        raise ModelPathRefused(value, "dots")
    real = path.resolve()
    for root in (Path(r).absolute() for r in roots):
        if path.is_relative_to(root) and real.is_relative_to(root.resolve()):
            return path
    raise ModelPathRefused(value, "outside")


# The `tiny` preset's architecture: trainer/tiny.py builds it, the launch form's memory estimate
# reads it. Its vocabulary is the BPE tokenizer trained on the job's data, at most
# TINY_VOCAB_SIZE tokens (fewer when the data has fewer to learn).
TINY_VOCAB_SIZE, TINY_HIDDEN, TINY_LAYERS, TINY_HEADS = 2000, 64, 2, 4


def tiny_config(
    vocab_size: int = TINY_VOCAB_SIZE,
    hidden: int = TINY_HIDDEN,
    layers: int = TINY_LAYERS,
    heads: int = TINY_HEADS,
) -> dict:
    """The tiny Llama's ``config.json`` architecture keys."""
    return {
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": hidden * 8 // 3 // 8 * 8 or 8,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
    }
