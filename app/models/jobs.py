"""Jobs (the queue is this table: fine-tunes and generation jobs) and what workers report
about them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="status"
        ),
        CheckConstraint("kind IN ('finetune', 'generate')", name="kind"),
        Index("ix_jobs_queue", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # 'finetune' trains on a dataset version; 'generate' writes drafts from a model
    # (app.core.generation): its items are its ``generation_inputs``, it has no version.
    kind: Mapped[str] = mapped_column(String(16), default="finetune", server_default="finetune")
    dataset_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="RESTRICT"), index=True
    )
    # A generation job's task and settings (app.core.generation.GenerationSpec).
    generation: Mapped[dict[str, Any] | None]
    # Claimed before lower ones: someone waits on the page for a quick generation.
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    base_model: Mapped[str] = mapped_column(String(500))
    params: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="queued")
    worker: Mapped[str | None] = mapped_column(String(200))
    # The worker token that claimed the current attempt; only it may speak for the attempt.
    claim_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL")
    )
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    step: Mapped[int] = mapped_column(default=0)
    total_steps: Mapped[int | None]
    epoch: Mapped[float] = mapped_column(Float, default=0.0)
    checkpoint: Mapped[str | None] = mapped_column(String(1000))
    error: Mapped[str | None] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifacts: Mapped[list[Any]] = mapped_column(default=list)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    # The finished job whose tuned model this one starts from (SFT, then DPO on its model).
    start_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class GenerationInput(Base):
    """One item a generation job reads, at the version it read it: the job writes onto it
    only while the item is still at that version. ``state`` is 'pending' until the job's
    answer is written ('done') or turned down ('skipped', with the reason)."""

    __tablename__ = "generation_inputs"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'done', 'skipped')", name="state"),
        Index("ix_generation_inputs_job_state", "job_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    # None once the item is deleted: its answer then counts as skipped ('deleted').
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"), index=True
    )
    item_version: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(40))
    # The item the job wrote from this one (augmented drafts): the source keeps its own.
    result_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"), index=True
    )


class JobMetric(Base):
    __tablename__ = "job_metrics"
    __table_args__ = (Index("ix_job_metrics_job_name_step", "job_id", "name", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    step: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)


class JobLog(Base):
    __tablename__ = "job_logs"
    __table_args__ = (Index("ix_job_logs_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    line: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class EvalPrediction(Base):
    __tablename__ = "eval_predictions"
    __table_args__ = (Index("ix_eval_predictions_job", "job_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(Text)
    base_output: Mapped[str] = mapped_column(Text)
    tuned_output: Mapped[str] = mapped_column(Text)
    scores: Mapped[dict[str, Any]]
    # 'eval' (held out) or 'train' (a sample of the prompts the model was tuned on: "seen").
    split: Mapped[str] = mapped_column(String(8), default="eval", server_default="eval")


class ItemDynamics(Base):
    __tablename__ = "item_dynamics"
    __table_args__ = (Index("ix_item_dynamics_job_item", "job_id", "item_id", "epoch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    epoch: Mapped[int]
    loss: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)


class Worker(Base):
    """A trainer worker as it last reported in when it asked for work: its device, memory and
    what the device can run. The launch form sets a job's memory estimate against these."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    device: Mapped[str] = mapped_column(String(16))  # 'cpu', 'cuda' or 'mps'
    device_name: Mapped[str] = mapped_column(String(200), default="")
    devices: Mapped[int] = mapped_column(default=1)  # GPUs one job may use (data parallel)
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger)  # per device
    free_bytes: Mapped[int | None] = mapped_column(BigInteger)
    bf16: Mapped[bool] = mapped_column(default=False)
    four_bit: Mapped[bool] = mapped_column(default=False)  # CUDA with bitsandbytes installed
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Preflight(Base):
    """A quick check a worker runs before a job is launched, on the launch form's settings:
    the data under the base model's chat template, one example's loss mask token by token, the
    worker's device and a few timed steps. Workers take these before any queued job."""

    __tablename__ = "preflights"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        Index("ix_preflights_queue", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True
    )
    base_model: Mapped[str] = mapped_column(String(500))
    params: Mapped[dict[str, Any]]
    start_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    worker: Mapped[str | None] = mapped_column(String(200))
    claim_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL")
    )
    lease_until: Mapped[datetime | None]
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
