"""The launch form's memory panel: the job's memory estimate (``app.core.memory``) for the
chosen settings, set against the workers that reported in within the last day
(``app.jobs.workers.seen``, the workers the launch counts).

Each worker is measured against the estimate under the precision it would run the job in
(``'auto'`` is bf16 on a CUDA GPU that computes in bf16 natively, else fp32: the trainer's
rule). A job fits a worker when its total is at most ``FIT_SHARE`` of the device's memory: the
rest is for what the estimate leaves out (the CUDA context, the allocator's fragmentation, the
gradients in flight through the backward pass). A 4-bit job is measured against the workers
that can load 4-bit weights only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session

from app.config import Settings
from app.core import architecture, memory
from app.core.protocol import JobParams
from app.jobs import service, workers
from app.jobs.estimate import Estimate
from app.jobs.forms import LaunchForm
from app.jobs.model_config import base_config
from app.models import Worker

FIT_SHARE = 0.9
KIB, MIB, GIB = 1024, 1024**2, 1024**3

Missing = Literal["offline", "architecture"]


def size(n: int | None) -> str:
    """Bytes for a reader: GiB with one decimal, MiB below one GiB (KiB below one MiB)."""
    if n is None:
        return "—"
    for unit, name in ((GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
        if n >= unit:
            return f"{n / unit:,.1f} {name}"
    return f"{n} B"


def computes_in_bf16(params: JobParams, worker: Worker | None) -> bool:
    """The trainer's precision rule on ``worker``'s device (None: a GPU that has bf16, where
    the jobs an estimate matters for run)."""
    if params.precision != "auto":
        return params.precision == "bf16"
    return worker is None or (worker.device == "cuda" and worker.bf16)


@dataclass(frozen=True)
class WorkerFit:
    worker: Worker
    need: int  # bytes the job needs on it, in the precision it would run in
    fits: bool


@dataclass(frozen=True)
class MemoryPanel:
    """What the panel shows: the estimate as its table counts it (``None``, and why, when
    there is none), and the recent workers (those that can run the job) with their fit."""

    estimate: memory.MemoryEstimate | None
    base_model: str
    params: JobParams
    missing: Missing | None = None
    model_type: str = ""
    reported: int = 0  # workers seen lately, able to run the job or not
    workers: list[WorkerFit] = field(default_factory=list)
    # Whose precision the table counts in, for 'auto': the largest worker's (None: no worker).
    counted_for: Worker | None = None

    @property
    def fitting(self) -> list[WorkerFit]:
        """The workers it fits, those with the most memory free first."""
        found = [w for w in self.workers if w.fits]
        return sorted(found, key=lambda w: -(w.worker.free_bytes or 0))

    @property
    def largest(self) -> WorkerFit | None:
        return self.workers[0] if self.workers else None

    def size(self, n: int | None) -> str:
        return size(n)

    def usable(self, worker: Worker) -> int | None:
        """What a job may take of ``worker``'s memory (``FIT_SHARE``)."""
        return None if worker.memory_bytes is None else int(FIT_SHARE * worker.memory_bytes)

    def share(self, n: int) -> float:
        """``n`` as a percentage of the total (the chart's widths)."""
        total = self.estimate.total if self.estimate else 0
        return round(100 * n / total, 2) if total else 0.0


def recent_workers(session: Session) -> list[Worker]:
    """The workers the launch counts (seen within ``workers.SEEN_WITHIN``, a day), the most
    memory first (unknown memory last)."""
    found = workers.seen(session=session)
    return sorted(found, key=lambda w: (-(w.memory_bytes or -1), w.name))


def panel(
    session: Session,
    *,
    base_model: str,
    params: JobParams,
    micro_batch: tuple[int, int],
    model_roots: list[Path],
) -> MemoryPanel:
    """The memory panel for ``params`` on ``base_model`` at ``micro_batch`` (rows, width)."""
    config = base_config(base_model, model_roots=model_roots)
    if config is None:
        return MemoryPanel(None, base_model, params, missing="offline")
    try:
        arch = architecture.from_config(config)
    except architecture.UnknownArchitecture as unknown:
        missing: Missing = "architecture"
        return MemoryPanel(None, base_model, params, missing, model_type=unknown.model_type)
    shape = memory.MicroBatch(*micro_batch)

    def need(worker: Worker | None) -> memory.MemoryEstimate:
        return memory.estimate(arch, params, shape, bf16=computes_in_bf16(params, worker))

    recent = recent_workers(session)
    able = [w for w in recent if w.four_bit] if params.quantization == "4bit" else recent
    fits = []
    for worker in able:
        total = need(worker).total
        room = worker.memory_bytes
        fits.append(WorkerFit(worker, total, room is not None and total <= int(FIT_SHARE * room)))
    counted_for = able[0] if able else (recent[0] if recent else None)
    return MemoryPanel(
        need(counted_for),
        base_model,
        params,
        model_type=arch.model_type,
        reported=len(recent),
        workers=fits,
        counted_for=counted_for,
    )


def for_form(
    session: Session,
    form: LaunchForm,
    params: JobParams,
    work: Estimate,
    within: set[int] | None,
    settings: Settings,
) -> MemoryPanel:
    """The launch form's panel at the estimate's largest micro-batch. A job continued from
    another trains on that job's base model (whatever the read-only field says)."""
    parent = service.find_job(session=session, job_id=form.start_job_id, within=within)
    return panel(
        session,
        base_model=parent.base_model if parent is not None else form.base_model,
        params=params,
        micro_batch=work.micro_batch,
        model_roots=settings.model_roots,
    )
