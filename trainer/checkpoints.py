"""Checkpoints (design §6): weights or adapter, optimizer, scheduler, RNG state, step and
config, so a resumed run continues the same run. Every file loads with ``weights_only=True``.

A checkpoint is the folder ``step-<n>`` under the job's ``checkpoints`` folder; its
``trainer_state.json`` is written last, so a folder without it is an interrupted save.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from safetensors.torch import load_file

from app.core.protocol import JobParams

STATE = "trainer_state.json"


def checkpoint_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"step-{step}"


def latest_checkpoint(folder: Path) -> str | None:
    """The newest complete checkpoint in ``folder``, or None."""
    done = [p.parent for p in folder.glob(f"step-*/{STATE}")]
    if not done:
        return None
    return str(max(done, key=lambda p: int(p.name.removeprefix("step-"))))


def save_checkpoint(path: Path, model, optimizer, scheduler, step: int, cfg: JobParams) -> Path:
    """Weights (or the adapter), optimizer, scheduler, RNG state, step and config."""
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    torch.save(optimizer.state_dict(), path / "optimizer.pt")
    torch.save(scheduler.state_dict(), path / "scheduler.pt")
    torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, path / "rng.pt")
    state = {"step": step, "config": cfg.model_dump(mode="json")}
    (path / STATE).write_text(json.dumps(state, indent=2))
    return path


def load_checkpoint(path: str | Path, model, optimizer, scheduler) -> int:
    """Restore everything ``save_checkpoint`` wrote into a fresh run; returns the step."""
    path = Path(path)
    adapter = path / "adapter_model.safetensors"
    if adapter.exists():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(adapter))
    else:
        model.load_state_dict(load_file(path / "model.safetensors"))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    # Tensors, tuples and ints only: the safe loader reads the Python RNG state too.
    rng = torch.load(path / "rng.pt", weights_only=True)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    return json.loads((path / STATE).read_text())["step"]
