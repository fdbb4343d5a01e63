"""Try the model: a person types a prompt (or picks an item) on a finished fine-tune's page and
gets the tuned model's answer beside the answer of the model it started from. Each try is a
small generation job (task ``try``) of the highest priority, so the next free worker takes it
before any queued job; while it waits the page shows how many jobs are ahead of it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core.generation import GenerationSpec
from app.core.kinds import ItemContent
from app.core.prompts import prompt_messages
from app.errors import InvalidInput, NotFound
from app.i18n import N_
from app.jobs import start
from app.jobs.service import get_job
from app.models import Item, Job, User

PRIORITY = 10  # above every other job
RECENT = 10
# Tries one person may have waiting or running at once: each jumps the queue and loads two
# models, so more would hold back everyone's jobs.
MAX_WAITING = 3


def ask(
    *,
    session: Session,
    job_id: int,
    actor: User,
    prompt: str = "",
    item_id: int | None = None,
    max_new_tokens: int = 128,
    artifacts_root: str | Path,
) -> Job:
    """Queue a try of ``job_id``'s tuned model on ``prompt`` (or on the prompt of item
    ``item_id`` of the job's project)."""
    tuned = start.check(
        session,
        start_job_id=job_id,
        project_id=_project_of(session, job_id),
        artifacts_root=artifacts_root,
    )
    waiting = session.scalar(
        select(func.count()).where(
            Job.created_by == actor.id,
            Job.priority == PRIORITY,
            Job.status.in_(("queued", "running")),
        )
    )
    if waiting >= MAX_WAITING:
        raise InvalidInput(
            N_("You have %(num)s tries waiting for their answers; ask again once they are in."),
            num=waiting,
        )
    messages = _messages(session, tuned, prompt, item_id)
    try:
        spec = GenerationSpec(task="try", messages=messages, max_new_tokens=max_new_tokens)
    except ValueError as error:
        raise InvalidInput(N_("Those settings cannot be used: %(why)s"), why=str(error)) from None
    job = Job(
        project_id=tuned.project_id,
        kind="generate",
        base_model=tuned.base_model,
        params=tuned.params,
        generation=spec.model_dump(mode="json"),
        priority=PRIORITY,
        start_job_id=tuned.id,
        created_by=actor.id,
        total_steps=2,  # the base model's answer, then the tuned model's
        max_attempts=1,  # a person is waiting: a failure is told at once, not retried
    )
    session.add(job)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="job.launched",
        entity_type="job",
        entity_id=job.id,
        after={"kind": "generate", "task": "try", "start_job": tuned.id, "item": item_id},
    )
    return job


def _project_of(session: Session, job_id: int) -> int:
    return get_job(session=session, job_id=job_id).project_id


def _messages(session: Session, tuned: Job, prompt: str, item_id: int | None) -> list[dict]:
    if item_id is not None:
        item = session.get(Item, item_id)
        if item is None or item.project_id != tuned.project_id:
            raise NotFound(N_("No item with id %(id)s."), id=item_id)
        return prompt_messages(ItemContent.from_row(item))
    text = prompt.strip()
    if not text:
        raise InvalidInput(
            N_("Type a prompt, or pick an item."), errors={"prompt": N_("Type a prompt.")}
        )
    if len(text) > 20_000:
        raise InvalidInput(
            N_("A prompt to try holds at most 20,000 characters."),
            errors={"prompt": N_("Too long.")},
        )
    return [{"role": "user", "content": text}]


def tries(session: Session, job_id: int) -> list[Job]:
    """The newest tries of ``job_id``'s model."""
    query = (
        select(Job)
        .where(Job.start_job_id == job_id, Job.kind == "generate", Job.priority == PRIORITY)
        .order_by(Job.id.desc())
        .limit(RECENT)
    )
    return list(session.scalars(query))


def get_try(session: Session, job_id: int, try_id: int) -> Job:
    found = session.get(Job, try_id)
    if found is None or found.start_job_id != job_id or found.priority != PRIORITY:
        raise NotFound(N_("No try %(id)s of this job's model."), id=try_id)
    return found


def ahead(session: Session, job: Job) -> tuple[int, int]:
    """While ``job`` waits: the queued jobs a worker takes before it, and the jobs running."""
    if job.status != "queued":
        return 0, 0
    queued = session.scalar(
        select(func.count()).where(
            Job.status == "queued",
            or_(Job.priority > job.priority, (Job.priority == job.priority) & (Job.id < job.id)),
        )
    )
    running = session.scalar(select(func.count()).where(Job.status == "running"))
    return queued or 0, running or 0
