"""The model a job starts from: the base model, or a finished job's tuned model.

- The base model is ``tiny`` (built offline from the dataset's text into the job's ``base``
  folder), a local folder the app allowed, or a hub id.
- With ``spec.start_from`` (SFT, then DPO on its model) it is that job's model: a full
  fine-tune's ``model`` folder holds the whole model; a LoRA job's adapter is loaded onto the
  weights *that* job started from and merged into them, so the new job's reference (its frozen
  starting point) is the tuned model and not the base. The tokenizer is that job's.

Every model is loaded in the dtype the job's precision holds its weights in, straight onto
this rank's GPU where it has one, or in 4-bit (``trainer.precision.load_options``); a job this
worker's device cannot run is refused first, with a sentence (``trainer.device.check``). A
LoRA job's adapter merged into 4-bit weights is rounded to them again (peft warns), as any
QLoRA merge is.

A job that starts from another writes ``start.json`` (the job it started from and that job's
method) into its folder, so a later job can start from it in turn: the chain is followed back
to the base model. Folders are found by the artifact store's layout (``jobs/<id>``) beside the
given one, never through a path a worker wrote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from app.core import base_models
from app.core.job_paths import JobFolder
from app.core.protocol import JobSpec, StartFrom

START_FILE = "start.json"
# A chain of jobs each started from the one before; deeper is surely a loop or a mistake.
MAX_CHAIN = 32


def load_start(spec: JobSpec, texts: list[str], folder: JobFolder):
    """The model and tokenizer the job trains from (``load_base`` or a finished job's model)."""
    from trainer.device import check

    check(spec.params)
    if spec.start_from is None:
        return load_base(spec, texts, folder)
    from trainer.ranks import world

    if world()[1] == 0:
        folder.path.mkdir(parents=True, exist_ok=True)
        start = {"job_id": spec.start_from.job_id, "method": spec.start_from.method}
        (folder.path / START_FILE).write_text(json.dumps(start))
    model, tokenizer = finished_model(spec, spec.start_from, seen=set())
    return model, _ready(tokenizer)


def finished_model(spec: JobSpec, start: StartFrom, *, seen: set[int]):
    """The tuned model of the job ``start`` names, as its own run left it (merged if LoRA)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if start.job_id in seen or len(seen) >= MAX_CHAIN:
        raise RuntimeError(f"Job {start.job_id} is part of a loop of jobs started from each other.")
    seen.add(start.job_id)
    parent = JobFolder(Path(start.artifact_dir))
    if (
        not (parent.model / "config.json").exists()
        and not (parent.model / "adapter_config.json").exists()
    ):
        raise RuntimeError(
            f"Job {start.job_id}'s tuned model is not in its folder ({parent.model}); a job can "
            f"only start from a finished job whose model this worker can read."
        )
    tokenizer = AutoTokenizer.from_pretrained(parent.model)
    if start.method == "full":
        return AutoModelForCausalLM.from_pretrained(parent.model, **_options(spec)), tokenizer
    from peft import PeftModel

    base = starting_weights(spec, parent, seen=seen)
    # Merged, so the next adapter (and the reference, with it disabled) sits on the tuned model.
    return PeftModel.from_pretrained(base, parent.model).merge_and_unload(), tokenizer


def starting_weights(spec: JobSpec, folder: JobFolder, *, seen: set[int]):
    """The weights the job in ``folder`` started from: its own start, else the base model."""
    from transformers import AutoModelForCausalLM

    earlier = read_start(folder)
    if earlier is not None:
        return finished_model(spec, earlier, seen=seen)[0]
    path = folder.base if spec.base_model == "tiny" else base_model_source(spec.base_model)
    return AutoModelForCausalLM.from_pretrained(path, **_options(spec))


def _options(spec: JobSpec) -> dict:
    """How this rank loads the job's weights (dtype, device, 4-bit)."""
    from trainer.precision import load_options
    from trainer.ranks import device_for_rank

    return load_options(spec.params, device_for_rank())


def read_start(folder: JobFolder) -> StartFrom | None:
    """The job that the job in ``folder`` started from, with that job's folder beside it."""
    path = folder.path / START_FILE
    if not path.is_file() or path.is_symlink():
        return None
    raw = json.loads(path.read_text())
    return StartFrom(
        job_id=int(raw["job_id"]),
        method=raw["method"],
        artifact_dir=str(folder.path.parent / str(int(raw["job_id"]))),
    )


# --- the base model --------------------------------------------------------------------------


def load_base(spec: JobSpec, texts: list[str], folder: JobFolder):
    """The base model and tokenizer: `tiny` is built offline from the dataset's text.

    Under torchrun rank 0 builds or downloads first and the other ranks load what it left
    (the tiny folder, the hub cache), so they never race on the same files."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.ranks import world

    ranks, rank = world()
    tiny = spec.base_model == "tiny"
    path = folder.base if tiny else base_model_source(spec.base_model)

    def load():
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            return tokenizer, AutoModelForCausalLM.from_pretrained(path, **_options(spec))
        except OSError as error:
            raise RuntimeError(
                f"Could not load the base model {spec.base_model!r}. A hub id needs network "
                f"access to the model hub (or the model in the local cache); this machine "
                f"could not get it: {str(error).splitlines()[0]}"
            ) from error

    if rank == 0:
        if tiny:
            from trainer.tiny import build_tiny

            build_tiny(texts, path, seed=spec.params.seed)
        tokenizer, model = load()
    if ranks > 1:
        import torch.distributed as dist

        dist.barrier()  # rank 0 has built or downloaded the model
        if rank != 0:
            tokenizer, model = load()
    return model, _ready(tokenizer)


def _ready(tokenizer):
    """A padding token and a chat template, where the tokenizer lacks them."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        from app.core.prompts import DEFAULT_CHAT_TEMPLATE

        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return tokenizer


def model_roots() -> list[str] | None:
    """The folders local base models may come from (``STUDIO_MODEL_ROOTS``, a JSON list as
    the app reads it), or None where this worker is not told."""
    raw = os.environ.get("STUDIO_MODEL_ROOTS")
    if raw is None:
        return None
    roots = json.loads(raw) if raw.strip() else []
    if not isinstance(roots, list):
        raise RuntimeError("STUDIO_MODEL_ROOTS must be a JSON list of folders")
    return [str(r) for r in roots]


def base_model_source(base_model: str) -> str:
    """What to load a (non-tiny) base model from. The app allowed it at launch; a worker that
    knows the model roots checks a local path again, here where the files are, and a hub id
    that names a folder here is refused, since transformers would read the folder instead."""
    if base_models.is_local_model(base_model):
        roots = model_roots()
        if roots is not None:
            base_models.local_model_path(base_model, roots)
        return os.path.expanduser(base_model)
    if os.path.exists(base_model):
        raise RuntimeError(
            f"The base model {base_model!r} is a hub id, but this worker has a folder of that "
            f"name where it runs; it will not load the folder in place of the hub model."
        )
    return base_model
