"""A worker cannot make the next worker run its code through a checkpoint. Every file a resumed
run loads is read with ``weights_only=True`` (tensors and plain containers), so a pickled
object that would call a function on load is refused and never runs; a file that is a link
is not read at all."""

from __future__ import annotations

import os
import pickle
import random

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402

from app.core.protocol import JobParams  # noqa: E402
from trainer.checkpoints import (  # noqa: E402
    UnsafeCheckpoint,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)

TORCH_FILES = ("optimizer.pt", "scheduler.pt", "rng.pt")


class TinyModel(torch.nn.Linear):
    """A model that saves itself as the trainer's models do (``model.safetensors``)."""

    def save_pretrained(self, path) -> None:
        save_file(self.state_dict(), os.path.join(path, "model.safetensors"))


class Trap:
    """Unpickled without care, it creates ``marker``: proof that a payload ran."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _run(model: torch.nn.Module):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    model(torch.ones(1, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    return optimizer, scheduler


@pytest.fixture
def checkpoint(tmp_path):
    """A real checkpoint written by the trainer's own ``save_checkpoint``."""
    model = TinyModel(4, 2)
    optimizer, scheduler = _run(model)
    folder = tmp_path / "checkpoints"
    save_checkpoint(folder / "step-1", model, optimizer, scheduler, 1, JobParams())
    return folder / "step-1"


def _fresh():
    model = TinyModel(4, 2)
    optimizer, scheduler = _run(model)
    return model, optimizer, scheduler


def test_an_honest_checkpoint_loads(checkpoint):
    assert load_checkpoint(checkpoint, *_fresh()) == 1


def _trapped(name: str, marker):
    """What an attacker would write in place of ``name``: the file's usual shape with a
    payload inside."""
    trap = Trap(marker)
    if name == "rng.pt":
        return {"torch": trap, "python": random.getstate()}
    return {"state": {}, "param_groups": [trap]}


@pytest.mark.parametrize("name", TORCH_FILES)
def test_a_pickle_payload_never_runs(checkpoint, tmp_path, name):
    marker = tmp_path / f"ran-{name}"
    torch.save(_trapped(name, marker), checkpoint / name)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(checkpoint, *_fresh())
    assert not marker.exists()


@pytest.mark.parametrize("name", TORCH_FILES)
def test_the_payload_is_live(tmp_path, name):
    """The same bytes, loaded the unsafe way, do run: the test above would catch a loader
    that went back to ``weights_only=False``."""
    marker = tmp_path / "ran"
    torch.save(_trapped(name, marker), tmp_path / name)
    torch.load(tmp_path / name, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("name", [*TORCH_FILES, "model.safetensors", "trainer_state.json"])
def test_a_file_that_is_a_link_is_not_read(checkpoint, tmp_path, name):
    """A checkpoint file swapped for a link to a file elsewhere (another job's, the
    attacker's) is refused before it is opened."""
    elsewhere = tmp_path / f"elsewhere-{name}"
    (checkpoint / name).rename(elsewhere)
    os.symlink(elsewhere, checkpoint / name)
    with pytest.raises(UnsafeCheckpoint):
        load_checkpoint(checkpoint, *_fresh())


@pytest.mark.parametrize("name", ["../x", "/etc", "step-1/../step-1", "step-1/rng.pt", ""])
def test_the_trainer_resumes_only_from_a_name(checkpoint, name):
    with pytest.raises(UnsafeCheckpoint):
        resolve_checkpoint(checkpoint.parent, name)


def test_the_trainer_does_not_resume_through_a_linked_folder(checkpoint, tmp_path):
    planted = tmp_path / "planted"
    checkpoint.rename(planted)
    os.symlink(planted, checkpoint)
    with pytest.raises(UnsafeCheckpoint):
        resolve_checkpoint(checkpoint.parent, "step-1")


def test_the_trainer_resumes_from_its_own_checkpoint(checkpoint):
    assert resolve_checkpoint(checkpoint.parent, "step-1") == checkpoint.resolve()
