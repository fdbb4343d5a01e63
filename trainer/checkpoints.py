"""Checkpoints (design §6): weights or adapter, optimizer, scheduler, RNG state, step and
config, so a resumed run continues the same run. Every file loads with ``weights_only=True``.

A checkpoint is the folder ``step-<n>`` under the job's ``checkpoints`` folder; its
``trainer_state.json`` is written last, so a folder without it is an interrupted save. The app
and the next worker know it by that name only, never by a path: a resumed run reads from its
own job's folder, and never through a link that an earlier worker left there.
"""

from __future__ import annotations

import json
import random
import stat
from pathlib import Path

import torch
from safetensors.torch import load_file

from app.core.protocol import JobParams, checkpoint_name, is_checkpoint_name

STATE = "trainer_state.json"
OBJECTIVE_STATE = "objective.pt"


class UnsafeCheckpoint(RuntimeError):
    """A checkpoint to resume that is not a plain folder of this job's checkpoints."""


def checkpoint_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / checkpoint_name(step)


def latest_checkpoint(folder: Path) -> str | None:
    """The name (``step-<n>``) of the newest complete checkpoint in ``folder``, or None."""
    done = [p.parent.name for p in folder.glob(f"step-*/{STATE}")]
    done = [name for name in done if is_checkpoint_name(name)]
    if not done:
        return None
    return max(done, key=lambda name: int(name.removeprefix("step-")))


def resolve_checkpoint(folder: str | Path, name: str) -> Path:
    """The checkpoint ``name`` in ``folder``: a ``step-<n>`` name whose folder is no link."""
    if not is_checkpoint_name(name):
        raise UnsafeCheckpoint(f"{name!r} is not a checkpoint name (step-<n>); not resuming")
    path = Path(folder).resolve() / name
    if not path.is_dir() or path.resolve() != path:
        raise UnsafeCheckpoint(f"checkpoint {name} is missing or a link in {folder}")
    return path


def _plain(path: Path) -> Path:
    """``path`` if it is a plain file, not a link (to a file another job or user wrote)."""
    if not stat.S_ISREG(path.lstat().st_mode):
        raise UnsafeCheckpoint(f"{path} is not a plain file; not resuming from it")
    return path


def save_checkpoint(
    path: Path,
    model,
    optimizer,
    scheduler,
    step: int,
    cfg: JobParams,
    *,
    extra: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Weights (or the adapter), optimizer, scheduler, RNG state, step and config, and the
    objective's own tensors (``extra``: DPO's reference log-probabilities)."""
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    if extra:
        torch.save(extra, path / OBJECTIVE_STATE)
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

        set_peft_model_state_dict(model, load_file(_plain(adapter)))
    else:
        model.load_state_dict(load_file(_plain(path / "model.safetensors")))
    # weights_only: tensors and plain containers; a pickled object that would run code on
    # load (a worker's trap for the next worker) is refused.
    optimizer.load_state_dict(torch.load(_plain(path / "optimizer.pt"), weights_only=True))
    scheduler.load_state_dict(torch.load(_plain(path / "scheduler.pt"), weights_only=True))
    # Tensors, tuples and ints only: the safe loader reads the Python RNG state too.
    rng = torch.load(_plain(path / "rng.pt"), weights_only=True)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    return json.loads(_plain(path / STATE).read_text())["step"]


def load_objective_state(path: Path) -> dict[str, torch.Tensor] | None:
    """The objective's tensors saved with the checkpoint at ``path``, if it saved any."""
    file = Path(path) / OBJECTIVE_STATE
    if not file.exists():
        return None
    return torch.load(_plain(file), weights_only=True)
