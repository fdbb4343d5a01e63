"""What the app and trainer workers agree on: the worker protocol's payloads, its endpoint
paths, a job's parameters and the layout of a job's artifact folder.

The dataset payloads give a worker everything it needs to train on a version: the
manifest (to check what it trains on) and each split's items as ItemContent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
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


# ---- Fine-tune jobs: parameters ----------------------------------------------------------

Method = Literal["lora", "full"]
Schedule = Literal["cosine", "linear", "constant"]


class GenerationParams(BaseModel):
    """How the evaluation generates: greedy by default, so scores are reproducible."""

    model_config = {"extra": "forbid"}

    max_new_tokens: int = Field(
        default=128, ge=1, le=4096, description="Longest output generated per evaluation item."
    )
    temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="Sampling temperature; 0 means greedy."
    )
    top_p: float = Field(
        default=1.0, gt=0.0, le=1.0, description="Nucleus sampling: keep this share of the mass."
    )


class JobParams(BaseModel):
    """Everything a worker needs to run a job: the ONE definition of a job's parameters.

    The app validates them at launch, the launch form and the presets start from these
    defaults, and the trainer takes this class as its configuration, so a name nobody knows
    fails loudly (``extra="forbid"``) instead of being dropped. A field that only the app
    reads is marked ``json_schema_extra={"app_only": True}``; a test checks that every other
    field is read somewhere in ``trainer/``.
    """

    model_config = {"extra": "forbid"}

    method: Method = Field(
        default="lora",
        description="'lora' trains a low-rank adapter; 'full' trains every weight.",
    )
    epochs: float | None = Field(
        default=3, gt=0, le=100, description="Passes over the data; ignored when max_steps is set."
    )
    max_steps: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Optimizer steps to run; overrides epochs."
    )
    learning_rate: float = Field(
        default=2e-4, gt=0, le=1, description="Peak learning rate, reached at the end of warmup."
    )
    schedule: Schedule = Field(
        default="cosine", description="Decay after warmup: 'cosine', 'linear' or 'constant'."
    )
    warmup_ratio: float = Field(
        default=0.03,
        ge=0,
        lt=1,
        description="Share of the steps spent ramping the learning rate up from 0.",
    )
    weight_decay: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="AdamW weight decay, on matrices only (not norms or biases).",
    )
    adam_betas: tuple[float, float] = Field(default=(0.9, 0.999), description="AdamW betas.")
    max_grad_norm: float | None = Field(
        default=1.0, gt=0, description="Clip the gradient norm to this; None turns it off."
    )
    batch_size: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Rows per micro-batch (packed rows with packing, else examples), per rank.",
    )
    grad_accum: int = Field(
        default=1, ge=1, le=1024, description="Micro-batches per optimizer step."
    )
    max_seq_len: int = Field(
        default=512,
        ge=16,
        le=32768,
        description="Longest row in tokens; longer examples lose their tail.",
    )
    lora_rank: int = Field(default=16, ge=1, le=1024, description="LoRA rank r.")
    lora_alpha: int = Field(
        default=32,
        ge=1,
        le=4096,
        description="LoRA scale numerator: updates are scaled by alpha / r.",
    )
    lora_dropout: float = Field(default=0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_targets: list[str] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description="Module names that get a LoRA adapter.",
    )
    eval_interval: int = Field(
        default=50, ge=1, description="Measure the eval loss every this many optimizer steps."
    )
    checkpoint_interval: int = Field(
        default=100, ge=1, description="Save a checkpoint every this many optimizer steps."
    )
    seed: int = Field(default=42, description="Seeds data order, LoRA init and dropout.")
    packing: bool = Field(
        default=True,
        description="Pack examples into rows with a block-diagonal mask (less padding).",
    )
    save_merged: bool = Field(
        default=False,
        description="LoRA only: also save the model with the adapter merged in (model/merged).",
    )
    generation: GenerationParams = Field(
        default_factory=GenerationParams,
        description="How the evaluation generates the base and tuned outputs.",
    )


# ---- The worker protocol --------------------------------------------------------------------


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


# ---- Where things are: the worker API's paths and a job's artifact folder ----------------

API_ROOT = "/api/v1"


class WorkerPath:
    """The worker API's paths under ``API_ROOT``; fill in ``job_id``, ``version_id``, ``split``
    with ``str.format``. The app's routes and the trainer's client both use these."""

    CLAIM = "/worker/jobs/claim"
    HEARTBEAT = "/worker/jobs/{job_id}/heartbeat"
    METRICS = "/worker/jobs/{job_id}/metrics"
    LOGS = "/worker/jobs/{job_id}/logs"
    DYNAMICS = "/worker/jobs/{job_id}/dynamics"
    PREDICTIONS = "/worker/jobs/{job_id}/predictions"
    COMPLETE = "/worker/jobs/{job_id}/complete"
    FAIL = "/worker/jobs/{job_id}/fail"
    CANCELLED = "/worker/jobs/{job_id}/cancelled"
    MANIFEST = "/worker/datasets/{version_id}/manifest"
    SPLIT = "/worker/datasets/{version_id}/splits/{split}"


MODEL_CARD = "README.md"


@dataclass(frozen=True)
class JobFolder:
    """A job's folder in the artifact store, ``<artifacts>/jobs/<id>/``: the worker writes it
    and the app serves from it, so a remote worker needs the store shared (a volume)."""

    path: Path

    @classmethod
    def of(cls, artifacts_root: str | Path, job_id: int) -> JobFolder:
        return cls(Path(artifacts_root) / "jobs" / str(job_id))

    @property
    def base(self) -> Path:
        """The ``tiny`` base model, built here from the dataset's text."""
        return self.path / "base"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def model(self) -> Path:
        """The trained model (or adapter) and its tokenizer: what the app offers to download."""
        return self.path / "model"

    @property
    def card(self) -> Path:
        return self.model / MODEL_CARD

    @property
    def merged(self) -> Path:
        """LoRA with ``save_merged``: the base weights with the adapter folded in."""
        return self.model / "merged"
