"""What the app and trainer workers agree on: the worker protocol's payloads and a job's
parameters (defined in ``app.core.job_params``; its endpoint paths and a job's artifact folder
are in ``app.core.job_paths``).

The dataset payloads give a worker everything it needs to train on a version: the
manifest (to check what it trains on) and each split's items as ItemContent.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from app.core.devices import WorkerDevice
from app.core.generation import GenerationSpec

# A job's parameters (app.core.job_params) are the protocol's too: a job's spec carries them.
from app.core.job_params import (  # noqa: F401 - re-exported under the protocol's name
    CHECKPOINTING_FROM_PARAMS,
    GenerationParams,
    JobParams,
    Method,
    Objective,
    Precision,
    Quantization,
    Schedule,
)
from app.core.kinds import ItemContent

Split = Literal["train", "eval"]


class DatasetManifest(BaseModel):
    version_id: int
    name: str
    project_id: int
    manifest_hash: str = Field(description="SHA-256 of the sorted canonical item lines.")
    seed: int
    eval_fraction: float
    train_count: int
    eval_count: int


class DatasetItem(BaseModel):
    item_id: int
    revision: int
    split: Split
    content: ItemContent
    domain: str | None = None
    tags: list[str] = Field(default_factory=list)


class DatasetSplitPage(BaseModel):
    version_id: int
    split: Split
    items: list[DatasetItem]
    next_cursor: int | None = Field(default=None, description="Pass back as ?after= to continue.")


# ---- The worker protocol ----------------------------------------------------------------
# A worker is not trusted: every number and list it sends is bounded here, so a bad report is
# refused with 422 naming the field instead of failing in the database or in a page.

# Losses, learning rates, gradient norms and throughputs stay far below this; a larger value is
# a diverged run or a bug, and charted it would flatten every other point to zero.
MAX_METRIC_VALUE = 1e15
MAX_INT = 2**31 - 1  # steps, epochs and item ids are 32-bit integer columns on PostgreSQL
# Rows per report: the app's request limit (``max_body_bytes``) bounds bytes, these bound the
# database inserts one request may cost. The trainer splits longer series into several
# reports of at most REPORT_BYTES of JSON each, well under the 2 MB default request limit.
MAX_METRIC_POINTS = 10_000
MAX_DYNAMICS_POINTS = 10_000
MAX_PREDICTIONS = 100
MAX_LOG_LINES = 1000
REPORT_BYTES = 1_000_000
MAX_LOG_LINE_CHARS = 10_000  # a traceback's last lines; the trainer cuts longer lines
# Each text of a prediction (reference, base and tuned output). An eval output is at most
# max_new_tokens (4096) tokens, rarely over 20 000 characters; the trainer cuts longer texts
# after scoring them, so the scores stand for the whole text.
MAX_PREDICTION_CHARS = 20_000
MAX_SCORES = 64  # score names per prediction or completion: a few per side
MAX_ARTIFACTS = 100
MAX_CARD_BYTES = 1_000_000  # the model card the results page renders; a real one is a few KB

Metric = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_METRIC_VALUE, le=MAX_METRIC_VALUE)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Name = Annotated[str, Field(min_length=1, max_length=64)]


def reportable(value: float | None) -> bool:
    """Whether a number may be reported: finite and within ``MAX_METRIC_VALUE``."""
    return value is not None and math.isfinite(value) and abs(value) <= MAX_METRIC_VALUE


# A checkpoint is named, never located: ``step-<n>`` inside the job's own checkpoints folder.
CHECKPOINT_NAME = re.compile(r"step-[0-9]{1,10}")


def checkpoint_name(step: int) -> str:
    return f"step-{step}"


def is_checkpoint_name(value: str | None) -> bool:
    return value is not None and CHECKPOINT_NAME.fullmatch(value) is not None


def _checkpoint(value: str | None) -> str | None:
    if value is not None and not is_checkpoint_name(value):
        raise ValueError("a checkpoint is named step-<n> (its folder in the job's), not a path")
    return value


class StartFrom(BaseModel):
    """The finished job whose tuned model a job starts from (SFT, then DPO on its model)."""

    job_id: int
    method: Method = Field(description="How that job trained: its model is an adapter or weights.")
    artifact_dir: str = Field(
        description="That job's folder: its model (and, for the tiny model, the base it built)."
    )


JobKind = Literal["finetune", "generate"]


class JobSpec(BaseModel):
    """What a worker receives when it claims a job."""

    job_id: int
    attempt: int
    kind: JobKind = "finetune"
    dataset_version_id: int | None = Field(
        default=None, description="The version a fine-tune trains on (none for generation)."
    )
    generation: GenerationSpec | None = Field(
        default=None, description="A generation job's task and settings."
    )
    base_model: str
    params: JobParams
    lease_seconds: int
    resume_from: str | None = Field(
        default=None, description="Checkpoint to resume (step-<n> in the job's folder), if any."
    )
    artifact_dir: str
    start_from: StartFrom | None = Field(
        default=None, description="Start from a finished job's tuned model, not the base model."
    )

    _resume_from_is_a_name = field_validator("resume_from")(_checkpoint)


class ClaimRequest(BaseModel):
    worker: str = Field(min_length=1, max_length=200, description="host:pid or a name")
    device: WorkerDevice | None = Field(
        default=None,
        description="What the worker trains on; it is handed only jobs its device can run.",
    )
    kinds: list[JobKind] = Field(
        default_factory=lambda: ["finetune"],
        description="The kinds of job the worker runs; a worker that predates generation jobs "
        "says nothing and is handed fine-tunes only.",
    )


class Heartbeat(BaseModel):
    attempt: int
    step: Count
    total_steps: int | None = Field(default=None, ge=1, le=MAX_INT)
    epoch: Metric = Field(default=0, ge=0)
    checkpoint: str | None = Field(
        default=None, max_length=20, description="The newest complete checkpoint: step-<n>."
    )

    _checkpoint_is_a_name = field_validator("checkpoint")(_checkpoint)


class HeartbeatReply(BaseModel):
    cancel: bool
    lease_seconds: int


class MetricPoint(BaseModel):
    step: Count
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_./]+$")
    value: Metric


# What encoding the training split cost, reported once at step 0 (trainer.data.EncodeStats):
# conversations cut back to whole turns, examples cut inside an answer, examples dropped as
# longer than max_seq_len, and examples whose chat template's pieces did not line up.
DATA_METRICS = (
    "data/truncated_at_turn",
    "data/truncated",
    "data/dropped",
    "data/prefix_mismatches",
)


class MetricBatch(BaseModel):
    attempt: int
    points: list[MetricPoint] = Field(min_length=1, max_length=MAX_METRIC_POINTS)


class LogBatch(BaseModel):
    attempt: int
    lines: list[Annotated[str, Field(max_length=MAX_LOG_LINE_CHARS)]] = Field(
        min_length=1, max_length=MAX_LOG_LINES
    )


class DynamicsPoint(BaseModel):
    item_id: Count
    epoch: Count
    loss: Metric
    confidence: float = Field(ge=0, le=1)


class DynamicsBatch(BaseModel):
    attempt: int
    points: list[DynamicsPoint] = Field(min_length=1, max_length=MAX_DYNAMICS_POINTS)


Text = Annotated[str, Field(max_length=MAX_PREDICTION_CHARS)]


class Prediction(BaseModel):
    item_id: Count
    kind: str = Field(min_length=1, max_length=16)
    reference: Text
    base_output: Text
    tuned_output: Text
    scores: dict[Name, Metric | None] = Field(max_length=MAX_SCORES)
    # 'eval': a held-out prompt; 'train': one of the sample of training prompts ("seen"), which
    # shows what the model learned rather than how it generalises.
    split: Split = "eval"


class PredictionBatch(BaseModel):
    attempt: int
    predictions: list[Prediction] = Field(min_length=1, max_length=MAX_PREDICTIONS)


class Completion(BaseModel):
    attempt: int
    metrics: dict[Name, Metric | None | dict[Name, Metric | None]] = Field(
        default_factory=dict, max_length=MAX_SCORES
    )
    artifacts: list[Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=list, max_length=MAX_ARTIFACTS
    )

    @field_validator("metrics")
    @classmethod
    def _steps_is_a_step(cls, metrics: dict) -> dict:
        steps = metrics.get("steps")
        if steps is not None and not (
            isinstance(steps, float | int) and float(steps).is_integer() and 0 <= steps <= MAX_INT
        ):
            raise ValueError("steps must be a whole number of steps")
        return metrics

    @property
    def steps(self) -> int | None:
        """The last step done, when the worker says."""
        steps = self.metrics.get("steps")
        return int(steps) if isinstance(steps, float | int) else None


class Failure(BaseModel):
    attempt: int
    error: str = Field(min_length=1, max_length=20_000)
