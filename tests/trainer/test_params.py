"""JobParams is the trainer's configuration: every field has help text, every field is read by
the trainer (or marked app-only), and a name nobody knows is refused, not dropped."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from app.core.protocol import GenerationParams, JobParams, JobSpec

ROOT = Path(__file__).resolve().parents[2]
# The trainer's code, and the shared rule it runs for the length of a job.
TRAINER_CODE = [*(ROOT / "trainer").glob("*.py"), ROOT / "app" / "core" / "steps.py"]


def _fields(model: type[BaseModel]):
    for name, info in model.model_fields.items():
        yield name, info
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from _fields(info.annotation)


def _read_in_trainer() -> set[str]:
    """Every attribute name the trainer's code reads (``params.seed``, ``cfg.packing`` …)."""
    names = set()
    for path in TRAINER_CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def test_every_field_is_read_by_the_trainer_or_marked_app_only():
    read = _read_in_trainer()
    app_only = {n for n, f in _fields(JobParams) if (f.json_schema_extra or {}).get("app_only")}
    unread = {n for n, _ in _fields(JobParams)} - read - app_only
    assert not unread, f"JobParams fields the trainer never reads: {sorted(unread)}"
    # The mark stays honest: a field the trainer does read is not app-only.
    assert not app_only & read, sorted(app_only & read)


def test_every_field_has_help_text():
    missing = [name for name, info in _fields(JobParams) if not (info.description or "").strip()]
    assert not missing, missing


def test_an_unknown_name_is_refused_not_dropped():
    with pytest.raises(ValidationError, match="learning_rat"):
        JobParams(learning_rat=1e-3)
    with pytest.raises(ValidationError, match="top_k"):
        GenerationParams(top_k=5)
    spec = {
        "job_id": 1,
        "attempt": 1,
        "dataset_version_id": 1,
        "base_model": "tiny",
        "lease_seconds": 60,
        "artifact_dir": ".",
    }
    # A worker older than the app that launched the job refuses it instead of ignoring a field.
    with pytest.raises(ValidationError, match="new_knob"):
        JobSpec.model_validate({**spec, "params": {"new_knob": 1}})
    assert JobSpec.model_validate({**spec, "params": {"max_steps": 3}}).params.max_steps == 3


def test_stored_parameters_of_earlier_jobs_still_load():
    """Jobs launched before the optimizer settings joined JobParams keep loading (defaults)."""
    stored = JobParams().model_dump(mode="json")
    for name in ("weight_decay", "adam_betas", "max_grad_norm"):
        del stored[name]
    params = JobParams(**stored)
    assert (params.weight_decay, params.adam_betas, params.max_grad_norm) == (
        0.0,
        (0.9, 0.999),
        1.0,
    )
