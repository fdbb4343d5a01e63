"""Schemas shared by the app and trainer workers (the worker protocol's payloads).

The dataset payloads give a worker everything it needs to train on a version: the
manifest (to check what it trains on) and each split's items as ItemContent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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


# ---- Fine-tune jobs: parameters and the worker protocol -------------------------------

Method = Literal["lora", "full"]
Schedule = Literal["cosine", "linear", "constant"]


class GenerationParams(BaseModel):
    """How the evaluation generates: greedy by default, so scores are reproducible."""

    max_new_tokens: int = Field(default=128, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)


class JobParams(BaseModel):
    """Everything a worker needs to run a job; validated when the job is launched."""

    model_config = {"extra": "forbid"}

    method: Method = "lora"
    epochs: float | None = Field(default=3, gt=0, le=100)
    max_steps: int | None = Field(default=None, ge=1, le=1_000_000)
    learning_rate: float = Field(default=2e-4, gt=0, le=1)
    schedule: Schedule = "cosine"
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    batch_size: int = Field(default=8, ge=1, le=1024)
    grad_accum: int = Field(default=1, ge=1, le=1024)
    max_seq_len: int = Field(default=512, ge=16, le=32768)
    lora_rank: int = Field(default=16, ge=1, le=1024)
    lora_alpha: int = Field(default=32, ge=1, le=4096)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    lora_targets: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])
    eval_interval: int = Field(default=50, ge=1)
    checkpoint_interval: int = Field(default=100, ge=1)
    seed: int = 42
    packing: bool = True
    save_merged: bool = Field(
        default=False,
        description="LoRA only: also save the model with the adapter merged in (model/merged).",
    )
    generation: GenerationParams = Field(default_factory=GenerationParams)


class JobSpec(BaseModel):
    """What a worker receives when it claims a job."""

    job_id: int
    attempt: int
    dataset_version_id: int
    base_model: str
    params: JobParams
    lease_seconds: int
    resume_from: str | None = Field(default=None, description="Checkpoint to resume, if any.")
    artifact_dir: str


class ClaimRequest(BaseModel):
    worker: str = Field(min_length=1, max_length=200, description="host:pid or a name")


class Heartbeat(BaseModel):
    attempt: int
    step: int = Field(ge=0)
    total_steps: int | None = Field(default=None, ge=1)
    epoch: float = Field(default=0, ge=0)
    checkpoint: str | None = Field(default=None, max_length=1000)


class HeartbeatReply(BaseModel):
    cancel: bool
    lease_seconds: int


class MetricPoint(BaseModel):
    step: int = Field(ge=0)
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_./]+$")
    value: float


class MetricBatch(BaseModel):
    attempt: int
    points: list[MetricPoint] = Field(min_length=1, max_length=10_000)


class LogBatch(BaseModel):
    attempt: int
    lines: list[str] = Field(min_length=1, max_length=1000)


class DynamicsPoint(BaseModel):
    item_id: int
    epoch: int = Field(ge=0)
    loss: float
    confidence: float = Field(ge=0, le=1)


class DynamicsBatch(BaseModel):
    attempt: int
    points: list[DynamicsPoint] = Field(min_length=1, max_length=100_000)


class Prediction(BaseModel):
    item_id: int
    kind: str
    reference: str
    base_output: str
    tuned_output: str
    scores: dict[str, float | None]


class PredictionBatch(BaseModel):
    attempt: int
    predictions: list[Prediction] = Field(min_length=1, max_length=10_000)


class Completion(BaseModel):
    attempt: int
    metrics: dict[str, float | None | dict] = Field(default_factory=dict)
    artifacts: list[str] = Field(default_factory=list)


class Failure(BaseModel):
    attempt: int
    error: str = Field(min_length=1, max_length=20_000)
