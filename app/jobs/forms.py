"""The launch form: presets per base model and per objective, and form fields into typed
JobParams."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from starlette.datastructures import FormData

from app.core.protocol import GenerationParams, JobParams
from app.db import MAX_INTEGER
from app.i18n import N_

# Base models offered in the form; any other hub id or a local path may be typed in.
PRESETS: dict[str, dict[str, Any]] = {
    # Built offline from the dataset's own text. Too small to generalise from a few dozen
    # items, it can learn them: long enough (50 epochs of small steps, each answer whole at
    # 512 tokens) that the prompts it was tuned on come back as their references, in well
    # under a minute on a laptop CPU for the demo's version (bench/tiny_job.py).
    "tiny": {
        "method": "full",
        "epochs": 50,
        "learning_rate": 5e-3,
        "batch_size": 4,
        "max_seq_len": 512,
        "eval_interval": 20,
        "warmup_ratio": 0.05,
        "schedule": "cosine",
    },
    "HuggingFaceTB/SmolLM2-135M-Instruct": {"method": "lora", "learning_rate": 2e-4},
    "Qwen/Qwen2.5-0.5B-Instruct": {"method": "lora", "learning_rate": 2e-4},
    "Qwen/Qwen2.5-1.5B-Instruct": {"method": "lora", "learning_rate": 1e-4},
    "meta-llama/Llama-3.2-1B-Instruct": {"method": "lora", "learning_rate": 2e-4},
}
# Presets on top of the base model's: what to change for another objective. Preference
# tuning moves a model much less than supervised fine-tuning does, so the learning rate is a
# tenth of the base model's (as DPO recipes use), on a LoRA adapter.
OBJECTIVE_PRESETS: dict[str, dict[str, Any]] = {
    "dpo-lora": {"objective": "dpo", "method": "lora", "learning_rate_scale": 0.1},
}
PRESET_LABELS = {"dpo-lora": N_("DPO (LoRA)")}
# Fields shown in the form, in order; the rest of JobParams keeps its defaults.
NUMBER_FIELDS = (
    "dpo_beta",
    "dpo_label_smoothing",
    "epochs",
    "max_steps",
    "learning_rate",
    "warmup_ratio",
    "batch_size",
    "grad_accum",
    "max_seq_len",
    "tokens_per_step",
    "lora_rank",
    "lora_alpha",
    "lora_dropout",
    "eval_interval",
    "checkpoint_interval",
    "seed",
)
# The DPO fields' hints: JobParams' own descriptions, written here to be translated (a test
# keeps the two the same).
HINTS = {
    "dpo_beta": N_(
        "DPO only: how far the model may move from the reference model (smaller lets it move "
        "further)."
    ),
    "dpo_label_smoothing": N_(
        "DPO only: the assumed share of pairs whose preference is wrong (conservative DPO); 0 "
        "is the plain sigmoid loss."
    ),
}
# Where the form leaves a field empty, the job gets JobParams' own default.
DEFAULT = JobParams()
# The gradient checkpointing select: unset (on from CHECKPOINTING_FROM_PARAMS), on or off.
CHECKPOINTING = {"auto": None, "on": True, "off": False}


def checkpointing_choice(value: bool | None) -> str:
    """The select's option for a ``gradient_checkpointing`` value."""
    return next(name for name, setting in CHECKPOINTING.items() if setting is value)


MESSAGES = {
    "int_parsing": N_("Enter a whole number."),
    "int_from_float": N_("Enter a whole number."),
    "float_parsing": N_("Enter a number."),
    "greater_than": N_("Too small."),
    "greater_than_equal": N_("Too small."),
    "less_than": N_("Too large."),
    "less_than_equal": N_("Too large."),
    "literal_error": N_("Choose one of the options."),
}


@dataclass
class LaunchForm:
    version_id: int | None = None
    base_model: str = "tiny"
    start_job_id: int | None = None  # continue from this finished job's model
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def objective(self) -> str:
        return str(self.values.get("objective") or DEFAULT.objective)


def preset_values(base_model: str, objective_preset: str | None = None) -> dict[str, Any]:
    """The base model's preset, then the objective's changes to it (a copy)."""
    values = dict(PRESETS.get(base_model, {}))
    extra = dict(OBJECTIVE_PRESETS.get(objective_preset or "", {}))
    scale = extra.pop("learning_rate_scale", None)
    if scale is not None:
        values["learning_rate"] = values.get("learning_rate", DEFAULT.learning_rate) * scale
    values.update(extra)
    return values


def defaults(base_model: str = "tiny", objective_preset: str | None = None) -> dict[str, Any]:
    """The form's starting values: JobParams defaults, then the base model's preset and the
    objective's."""
    values = JobParams().model_dump(mode="json")
    values.update(preset_values(base_model, objective_preset))
    values["max_new_tokens"] = values["generation"]["max_new_tokens"]
    values["lora_targets"] = ", ".join(values["lora_targets"])
    values["gradient_checkpointing"] = checkpointing_choice(values["gradient_checkpointing"])
    return values


def preset(base_model: str, objective: str = "sft") -> JobParams:
    return JobParams(**{**PRESETS.get(base_model, {}), "objective": objective})


def parse(form: FormData) -> tuple[LaunchForm, JobParams | None]:
    """Typed parameters, or the values as typed with a message per bad field."""
    raw_version = str(form.get("dataset_version_id") or "")
    raw_start = str(form.get("start_job_id") or "")
    state = LaunchForm(
        version_id=_whole(raw_version),
        base_model=str(form.get("base_model") or "").strip(),
        start_job_id=_whole(raw_start),
    )
    state.values = {name: str(form.get(name) or "").strip() for name in NUMBER_FIELDS}
    state.values["objective"] = str(form.get("objective") or DEFAULT.objective)
    state.values["method"] = str(form.get("method") or DEFAULT.method)
    state.values["schedule"] = str(form.get("schedule") or DEFAULT.schedule)
    state.values["packing"] = form.get("packing") is not None
    state.values["save_merged"] = form.get("save_merged") is not None
    state.values["precision"] = str(form.get("precision") or DEFAULT.precision)
    state.values["gradient_checkpointing"] = str(form.get("gradient_checkpointing") or "auto")
    state.values["quantization"] = str(form.get("quantization") or DEFAULT.quantization)
    state.values["lora_targets"] = str(form.get("lora_targets") or "")
    state.values["max_new_tokens"] = str(form.get("max_new_tokens") or "").strip()
    if state.version_id is None:
        state.errors["dataset_version_id"] = N_("Choose a dataset version.")
    if raw_start and state.start_job_id is None:
        state.errors["start_job_id"] = N_("Choose one of the options.")
    if not state.base_model and state.start_job_id is None:  # a continued job takes its own
        state.errors["base_model"] = N_("Choose or type a base model.")
    # An empty field keeps its default; an empty epochs field means "go by max steps".
    data: dict[str, Any] = {
        name: value for name, value in state.values.items() if name in NUMBER_FIELDS and value
    }
    data.setdefault("epochs", None)
    data.update(
        objective=state.values["objective"],
        method=state.values["method"],
        schedule=state.values["schedule"],
        packing=state.values["packing"],
        save_merged=state.values["save_merged"],
        precision=state.values["precision"],
        quantization=state.values["quantization"],
    )
    if state.values["gradient_checkpointing"] in CHECKPOINTING:
        data["gradient_checkpointing"] = CHECKPOINTING[state.values["gradient_checkpointing"]]
    else:
        state.errors["gradient_checkpointing"] = N_("Choose one of the options.")
    targets = [t.strip() for t in state.values["lora_targets"].split(",") if t.strip()]
    if targets:  # none typed: JobParams' default targets
        data["lora_targets"] = targets
    if state.values["max_new_tokens"]:
        data["generation"] = {"max_new_tokens": state.values["max_new_tokens"]}
    if data.get("epochs") is None and data.get("max_steps") is None:
        state.errors["epochs"] = N_("Give epochs or max steps.")
    try:
        params = JobParams(**data)
    except ValidationError as error:
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "params"
            if name == "generation":
                name = "max_new_tokens"
            state.errors.setdefault(name, MESSAGES.get(problem["type"], N_("Invalid.")))
        return state, None
    if state.errors:
        return state, None
    return state, params


def _whole(raw: str) -> int | None:
    """A positive id as typed, or None (an id the database could not hold is no id)."""
    # ASCII digits only: str.isdigit also takes "²", which int() refuses.
    return int(raw) if re.fullmatch(r"[0-9]{1,10}", raw) and 0 < int(raw) <= MAX_INTEGER else None


def _bounds(field: FieldInfo) -> dict[str, float]:
    """A numeric field's limits as an input's ``min`` and ``max`` (an exclusive limit is the
    browser's bound too; the server refuses the value itself, with its message)."""
    found: dict[str, float] = {}
    for rule in field.metadata:
        for attribute, key in (("ge", "min"), ("gt", "min"), ("le", "max"), ("lt", "max")):
            value = getattr(rule, attribute, None)
            if value is not None:
                found[key] = value
    return found


# The launch form's number inputs take their limits from the parameters' one definition.
BOUNDS: dict[str, dict[str, float]] = {
    name: _bounds(field)
    for model in (JobParams, GenerationParams)
    for name, field in model.model_fields.items()
}
