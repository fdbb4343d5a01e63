"""What a generation job's page shows: its task and settings, progress (inputs answered, or a
bootstrap's prompts sent), what it wrote and what it turned down (by reason), the drafts it
made, and its log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.core import generation, selfinstruct
from app.core.generation import GenerationSpec
from app.i18n import N_
from app.jobs import live
from app.models import GenerationInput, Item, Job, JobLog, Project

# Why an answer was not written, or a candidate instruction was dropped.
REASONS = {
    "edited": N_("edited after the job read it"),
    "has_output": N_("already had an output"),
    "closed": N_("rejected meanwhile"),
    "deleted": N_("deleted"),
    "empty": N_("empty answer"),
    "invalid": N_("not a valid item"),
    "no_text": N_("no text for the task"),
    "unchanged": N_("the same instruction as its source"),
    "no_author": N_("the person who launched the job is gone"),
    "repeated": N_("sent twice"),
    "near_duplicate": N_("a near-duplicate of an item"),
    "unreadable": N_("could not be read as instructions"),
    **selfinstruct.REASON_LABELS,
}
RECENT = 50


def context(session: Session, job: Job) -> dict[str, Any]:
    spec = GenerationSpec.model_validate(job.generation)
    logs = list(
        session.scalars(
            select(JobLog.line)
            .where(JobLog.job_id == job.id)
            .order_by(JobLog.id.desc())
            .limit(live.LOG_TAIL)
        )
    )[::-1]
    metrics = job.metrics or {}
    return {
        "job": job,
        "spec": spec,
        "task_labels": generation.TASK_LABELS,
        "active": job.status in live.ACTIVE,
        "progress": live.progress(job, job.step),
        "written": int(metrics.get("written", 0)),
        "skipped": _labelled(metrics.get("skipped") or {}),
        "proposed": metrics.get("proposed"),
        "kept": metrics.get("kept"),
        "filtered": _labelled(metrics.get("filtered") or {}),
        "inputs": _input_counts(session, job),
        "drafts": recent_drafts(session, job),
        "logs": logs,
        "project": session.get(Project, job.project_id),
        "children": list(session.scalars(select(Job.id).where(Job.parent_id == job.id))),
        "reasons": REASONS,
    }


def _labelled(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(((reason, int(n)) for reason, n in counts.items() if n), key=lambda r: -r[1])


def _input_counts(session: Session, job: Job) -> dict[str, int]:
    rows = session.execute(
        select(GenerationInput.state, func.count())
        .where(
            GenerationInput.job_id == job.id,
            or_(GenerationInput.reason.is_(None), GenerationInput.reason != "seed"),
        )
        .group_by(GenerationInput.state)
    ).all()
    return {state: n for state, n in rows}


def recent_drafts(session: Session, job: Job) -> list[Item]:
    """The newest items the job wrote onto or made (at most ``RECENT``)."""
    made = (Item.origin.in_(("augmented", "generated"))) & (
        Item.provenance["job_id"].as_integer() == job.id
    )
    query = (
        select(Item)
        .where(Item.project_id == job.project_id, or_(Item.drafted_job_id == job.id, made))
        .order_by(Item.id.desc())
        .limit(RECENT)
    )
    return list(session.scalars(query))
