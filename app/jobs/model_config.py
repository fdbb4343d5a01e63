"""A base model's ``config.json`` for the launch form's memory estimate, read offline: the
``tiny`` preset's from ``app.core.base_models``, a local folder's (inside the model roots, as
launch checks them), a hub id's only from the local Hugging Face cache. Nothing here reaches
the network or imports transformers; a config found nowhere is ``None``, and the form says it
has no estimate.

The cache read is the web server's: a worker on another machine may hold models this one has
never downloaded (their estimate then needs the config copied into a model root, or the model
fetched here once)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from app.core import base_models

# A config.json is a few kilobytes; anything much larger is not one.
MAX_CONFIG_BYTES = 1_000_000


def hub_cache() -> Path:
    """Where huggingface_hub keeps downloaded models, by its own rule: ``HF_HUB_CACHE`` (or
    the older ``HUGGINGFACE_HUB_CACHE``), else ``$HF_HOME/hub``, ``HF_HOME`` defaulting to
    ``$XDG_CACHE_HOME/huggingface`` and that to ``~/.cache/huggingface``."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    home = os.environ.get("HF_HOME") or os.path.join(xdg, "huggingface")
    return Path(home).expanduser() / "hub"


def cached_config(hub_id: str, cache: Path) -> Path | None:
    """The cached ``config.json`` of ``hub_id``: the snapshot its ``main`` ref names (what a
    download without a revision loads), else the newest snapshot that has one."""
    folder = cache / ("models--" + hub_id.replace("/", "--"))
    ref = folder / "refs" / "main"
    if ref.is_file():
        named = folder / "snapshots" / ref.read_text().strip() / "config.json"
        if named.is_file():
            return named
    found = [p for p in folder.glob("snapshots/*/config.json") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def read_config(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is missing, too large or not an object."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def base_config(base_model: str, *, model_roots: Sequence[str | Path]) -> dict | None:
    """``base_model``'s config, or None when it is refused or not available offline. The tiny
    preset's vocabulary is its upper bound: the tokenizer trained on the data may have fewer."""
    if base_model == "tiny":
        return base_models.tiny_config()
    try:
        base_models.check(base_model, model_roots)
    except base_models.ModelPathRefused:
        return None
    if base_models.is_local_model(base_model):
        path: Path | None = base_models.local_model_path(base_model, model_roots) / "config.json"
    else:
        path = cached_config(base_model, hub_cache())
    return read_config(path) if path is not None else None
