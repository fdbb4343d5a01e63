"""The worker's side of a generation job: the items it reads, a page at a time, and the
batches of what the model wrote, turned into drafts (``writing``, ``candidates``) with the
job's running counts kept in ``Job.metrics``.

Only the token that claimed the job's current attempt reads its inputs or writes for it
(``queue.running_attempt``), so a worker that lost its lease writes nothing."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.generation import (
    COUNTS_INPUTS,
    GenerationBatch,
    GenerationInputPage,
    GenerationReply,
    GenerationSpec,
)
from app.core.generation import (
    GenerationInput as InputOut,
)
from app.core.kinds import CONTENT_FIELDS
from app.errors import Conflict, InvalidInput
from app.i18n import N_
from app.jobs import queue
from app.jobs.generation import candidates, writing
from app.models import GenerationInput, Item, Job

PAGE = 200
SEED = "seed"  # a bootstrap's example task: read, never written onto


def running_generation(session: Session, job_id: int, attempt: int, token_id: int) -> Job:
    job = queue.running_attempt(session, job_id, attempt, token_id)
    if job.kind != "generate":
        raise Conflict(N_("Job %(id)s is not a generation job."), id=job_id)
    return job


def page(
    *, session: Session, job_id: int, attempt: int, token_id: int, after: int, limit: int = PAGE
) -> GenerationInputPage:
    """The job's inputs after ``after``: those still to answer (a bootstrap: its example
    tasks), each with the item's content as the job pinned it. An item changed or deleted
    since is not served: it is skipped (edited, deleted), so the model never works on what
    will not be written."""
    job = running_generation(session, job_id, attempt, token_id)
    spec = GenerationSpec.model_validate(job.generation)
    wanted = (
        GenerationInput.reason == SEED
        if spec.task == "bootstrap"
        else GenerationInput.state == "pending"
    )
    rows = session.execute(
        select(GenerationInput, Item)
        .outerjoin(Item, Item.id == GenerationInput.item_id)
        .where(GenerationInput.job_id == job.id, GenerationInput.id > after, wanted)
        .order_by(GenerationInput.id)
        .limit(min(limit, PAGE))
    ).all()
    served, skipped = [], Counter()
    for row, item in rows:
        if item is None and row.reason == SEED:
            continue  # an example task deleted since: nothing to show
        reason = writing.GONE if item is None else None
        if reason is None and item.version != row.item_version and row.reason != SEED:
            reason = writing.EDITED
        if reason is not None:
            row.state, row.reason = "skipped", reason
            skipped[reason] += 1
            continue
        served.append(_input(row, item))
    if skipped:
        _add_counts(job, written=0, skipped=skipped)
        count_progress(session, job)
    return GenerationInputPage(
        inputs=served, next_cursor=rows[-1][0].id if len(rows) == min(limit, PAGE) else None
    )


def _input(row: GenerationInput, item: Item) -> InputOut:
    content = {name: getattr(item, name) for name in CONTENT_FIELDS}
    return InputOut(input_id=row.id, item_id=item.id, content=content)


def record(
    *, session: Session, job_id: int, batch: GenerationBatch, token_id: int
) -> GenerationReply:
    """Write what the model wrote: outputs onto items (drafts), new drafts from rewritten
    instructions (augmentation), and the candidates a bootstrap round kept."""
    job = running_generation(session, job_id, batch.attempt, token_id)
    spec = GenerationSpec.model_validate(job.generation)
    reply = GenerationReply()
    skipped: Counter[str] = Counter()
    rows = _inputs(session, job, {r.input_id for r in batch.results})
    for result in batch.results:
        row = rows[result.input_id]
        if row.state != "pending":
            skipped["repeated"] += 1  # a batch sent again after a lost reply
            continue
        if row.item_id is None:  # deleted since the job read it
            row.state, row.reason = "skipped", writing.GONE
            skipped[writing.GONE] += 1
            continue
        reason = writing.write(session, job=job, spec=spec, row=row, result=result)
        row.state, row.reason = ("skipped", reason) if reason else ("done", None)
        if reason:
            skipped[reason] += 1
        else:
            reply.written += 1
    if batch.answers:
        if spec.task != "try":
            raise InvalidInput(N_("Only a try of a model answers side by side."))
        job.metrics = {**(job.metrics or {}), "answers": dict(batch.answers)}
    if batch.candidates or batch.unreadable:
        if spec.task != "bootstrap":
            raise InvalidInput(N_("Only a bootstrap job proposes instructions."))
        reply.kept = candidates.keep(session, job=job, spec=spec, batch=batch)
    reply.skipped = dict(skipped)
    _add_counts(job, written=reply.written, skipped=skipped)
    cut = sum(1 for r in batch.results if not r.finished)
    if cut:  # answers that reached the longest answer allowed before they ended
        job.metrics = {**job.metrics, "cut_off": int(job.metrics.get("cut_off", 0)) + cut}
    count_progress(session, job)
    return reply


def _inputs(session: Session, job: Job, ids: set[int]) -> dict[int, GenerationInput]:
    found = {
        row.id: row
        for row in session.scalars(
            select(GenerationInput).where(
                GenerationInput.job_id == job.id, GenerationInput.id.in_(sorted(ids))
            )
        )
    }
    strangers = sorted(ids - found.keys())
    if strangers:
        raise InvalidInput(
            N_("Inputs %(ids)s are not this job's."), ids=", ".join(map(str, strangers[:10]))
        )
    return found


def _add_counts(job: Job, *, written: int, skipped: Counter[str]) -> None:
    metrics = dict(job.metrics or {})
    metrics["written"] = int(metrics.get("written", 0)) + written
    by_reason = dict(metrics.get("skipped") or {})
    for reason, n in skipped.items():
        by_reason[reason] = int(by_reason.get(reason, 0)) + n
    metrics["skipped"] = by_reason
    job.metrics = metrics


def count_progress(session: Session, job: Job) -> None:
    """A draft or augmentation job's progress: the inputs answered or skipped so far (a
    bootstrap's comes from its worker, in prompts sent)."""
    if (job.generation or {}).get("task") not in COUNTS_INPUTS:
        return
    session.flush()
    job.step = session.scalar(
        select(func.count()).where(
            GenerationInput.job_id == job.id, GenerationInput.state != "pending"
        )
    )
