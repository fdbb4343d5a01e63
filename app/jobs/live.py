"""What the job page shows while a job runs: progress, ETA, throughput, curves, the log tail."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.protocol import DATA_METRICS, MAX_METRIC_VALUE, reportable
from app.jobs import results
from app.jobs.objective import OBJECTIVES
from app.models import DatasetVersion, Job, JobLog, JobMetric, Project

ACTIVE = ("queued", "running")
CHART_POINTS = 600  # per series; longer runs are thinned evenly, keeping the last point
LOG_TAIL = 40
CURVES = ("train/loss", "eval/loss", "train/lr")
# DPO's curves (the metric names' contract): the implicit rewards of the chosen and rejected
# responses, their margin and the share of pairs ranked right, on train and eval pairs.
DPO_CURVES = tuple(
    f"{split}/{name}"
    for name in ("rewards_chosen", "rewards_rejected", "reward_margin", "reward_accuracy")
    for split in ("train", "eval")
)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def series(session: Session, job_id: int, names=CURVES) -> dict[str, dict[int, float]]:
    """{name: {step: value}}; a resumed attempt's report of a step replaces the earlier one.
    A value stored before reports were checked (NaN, infinite, huge) is a gap, never NaN."""
    out: dict[str, dict[int, float]] = {name: {} for name in names}
    rows = session.execute(
        select(JobMetric.name, JobMetric.step, JobMetric.value)
        .where(JobMetric.job_id == job_id, JobMetric.name.in_(names))
        .order_by(JobMetric.id)
    )
    for name, step, value in rows:
        out[name][step] = value if reportable(value) else None
    return out


def _thin(steps: list[int]) -> list[int]:
    if len(steps) <= CHART_POINTS:
        return steps
    stride = len(steps) / CHART_POINTS
    kept = [steps[int(i * stride)] for i in range(CHART_POINTS)]
    return kept if kept[-1] == steps[-1] else [*kept, steps[-1]]


def aligned(curves: dict[str, dict[int, float]]) -> dict[str, Any]:
    """uPlot's shape: one x array and one y array per series, None where a series has no point."""
    steps = _thin(sorted({s for points in curves.values() for s in points}))
    return {"x": steps, **{name: [points.get(s) for s in steps] for name, points in curves.items()}}


def best_eval_losses(session: Session, job_ids: list[int]) -> dict[int, float]:
    """The lowest eval loss each job reported while training."""
    if not job_ids:
        return {}
    rows = session.execute(
        select(JobMetric.job_id, func.min(JobMetric.value))
        .where(JobMetric.job_id.in_(job_ids), JobMetric.name == "eval/loss")
        .where(JobMetric.value.between(-MAX_METRIC_VALUE, MAX_METRIC_VALUE))  # no NaN, no inf
        .group_by(JobMetric.job_id)
    )
    return dict(rows.all())


def latest(session: Session, job_id: int, name: str) -> tuple[int, float] | None:
    row = session.execute(
        select(JobMetric.step, JobMetric.value)
        .where(JobMetric.job_id == job_id, JobMetric.name == name)
        .order_by(JobMetric.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def data_counts(session: Session, job_id: int) -> dict[str, int]:
    """What encoding the training items cut or dropped, by count name (``truncated``, …), as
    the latest attempt reported it; empty until the worker has encoded the data."""
    counts: dict[str, int] = {}
    for name in DATA_METRICS:
        reported = latest(session, job_id, name)
        if reported is not None and reportable(reported[1]):
            counts[name.removeprefix("data/")] = int(reported[1])
    return counts


def progress(job: Job, step: int, now: datetime | None = None) -> dict[str, Any]:
    """Step, share done, elapsed seconds and an ETA from the pace so far."""
    now = now or datetime.now(UTC)
    total = job.total_steps
    started = _aware(job.started_at)
    finished = _aware(job.finished_at)
    elapsed = ((finished or now) - started).total_seconds() if started else None
    eta = None
    if job.status == "running" and total and step and elapsed:
        eta = max(0.0, elapsed / step * (total - step))
    done = 1.0 if job.status == "succeeded" else (min(1.0, step / total) if total else None)
    return {"step": step, "total": total, "done": done, "elapsed": elapsed, "eta": eta}


def is_dpo(job: Job) -> bool:
    return (job.params or {}).get("objective") == "dpo"


def curve_names(job: Job) -> tuple[str, ...]:
    return CURVES + DPO_CURVES if is_dpo(job) else CURVES


def preference_now(curves: dict[str, dict[int, float]]) -> dict[str, float | None]:
    """The latest reward accuracy and margin reported, on train and on eval pairs."""
    found: dict[str, float | None] = {}
    for name in ("reward_accuracy", "reward_margin"):
        for split in ("train", "eval"):
            points = {s: v for s, v in curves.get(f"{split}/{name}", {}).items() if v is not None}
            found[f"{split}_{name}"] = points[max(points)] if points else None
    return found


def context(session: Session, job: Job) -> dict[str, Any]:
    curves = series(session, job.id, curve_names(job))
    last_loss = latest(session, job.id, "train/loss")
    step = max(job.step, last_loss[0] if last_loss else 0)
    eval_losses = [v for v in curves["eval/loss"].values() if v is not None]
    throughput = latest(session, job.id, "train/tokens_per_s")
    step_tokens = latest(session, job.id, "train/step_tokens")
    # Metrics come every step, heartbeats every few seconds: the newer of the two wins.
    reported = latest(session, job.id, "train/epoch")
    epoch = reported[1] if reported and reported[0] >= job.step else job.epoch
    logs = list(
        session.scalars(
            select(JobLog.line)
            .where(JobLog.job_id == job.id)
            .order_by(JobLog.id.desc())
            .limit(LOG_TAIL)
        )
    )[::-1]
    version = session.get(DatasetVersion, job.dataset_version_id)
    return {
        "job": job,
        "active": job.status in ACTIVE,
        "progress": progress(job, step),
        "epoch": epoch,
        "train_loss": last_loss[1] if last_loss else None,
        "best_eval_loss": min(eval_losses) if eval_losses else None,
        "tokens_per_s": throughput[1] if throughput else None,
        "step_tokens": step_tokens[1] if step_tokens else None,
        "chart": chart_json(aligned(curves)),
        "logs": logs,
        "data_counts": data_counts(session, job.id),
        "version": version,
        "project": session.get(Project, job.project_id),
        "children": list(session.scalars(select(Job.id).where(Job.parent_id == job.id))),
        "continued_by": list(
            session.scalars(select(Job.id).where(Job.start_job_id == job.id).order_by(Job.id))
        ),
        "headline": results.headline(job),
        "dpo": is_dpo(job),
        "objectives": OBJECTIVES,
        "preference_now": preference_now(curves) if is_dpo(job) else {},
    }


def overlay(session: Session, jobs: list[Job]) -> str:
    """Train and eval loss of several jobs on one x axis, as uPlot data with labels."""
    curves: dict[str, dict[int, float]] = {}
    for job in jobs:
        own = series(session, job.id, ("train/loss", "eval/loss"))
        curves[f"#{job.id} train"] = own["train/loss"]
        curves[f"#{job.id} eval"] = own["eval/loss"]
    data = aligned(curves)
    return chart_json({"x": data.pop("x"), "series": data})


def chart_json(data: dict[str, Any]) -> str:
    """JSON for a ``<script type="application/json">``: strict (no NaN, which JSON.parse
    refuses) and unable to close the script element."""
    return json.dumps(data, allow_nan=False).replace("</", "<\\/")
