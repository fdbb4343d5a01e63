"""Launch a generation job: check the model, pin the items it reads (each at its current
version), queue it; and retry one, with the inputs it had not finished."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import generation
from app.core.generation import GenerationSpec
from app.core.job_params import JobParams
from app.core.status import ItemStatus
from app.errors import Conflict, InvalidInput
from app.i18n import N_
from app.items import repository
from app.items.augment_task import in_languages
from app.items.repository import ItemFilter
from app.jobs import start
from app.jobs.service import FINISHED, check_base_model, get_job
from app.models import GenerationInput, Item, Job, Project, User

NO_PROJECT = N_("No project with id %(id)s.")
NOTHING_TO_DO = {
    "draft": N_(
        "No item matches that needs an output: drafting writes the output of tasks, "
        "constraints and examples that have none (and are not rejected)."
    ),
    "paraphrase": N_(
        "No English or Chinese item matches to augment: a model rewrites tasks, constraints "
        "and examples in those two languages that are not rejected."
    ),
    "back_translate": N_(
        "No English or Chinese item matches to augment: back-translation goes through the "
        "other of the two languages, for tasks, constraints and examples that are not rejected."
    ),
    "bootstrap": N_(
        "Bootstrapping starts from the project's approved tasks, and it has none: import the "
        "seed tasks (or write and approve some) first."
    ),
}


def eligible(task: str) -> list:
    """What an item must be for ``task`` to read it, as SQL conditions."""
    live = Item.status != ItemStatus.rejected
    if task == "draft":
        return [live, Item.kind.in_(generation.DRAFTABLE_KINDS), func.trim(Item.output) == ""]
    if task == "bootstrap":
        return [Item.status == ItemStatus.approved, Item.kind == "task"]
    # The rewriting prompts (and back-translation's pivot) exist in English and Chinese.
    return [live, Item.kind.in_(generation.AUGMENTABLE_KINDS), in_languages()]


def launch(
    *,
    session: Session,
    project_id: int,
    spec: GenerationSpec,
    base_model: str | None,
    actor: User,
    item_filter: ItemFilter | None = None,
    start_job_id: int | None = None,
    artifacts_root: str | Path | None = None,
    model_roots: Sequence[Path] = (),
    within: Collection[int] | None = None,
    parent: Job | None = None,
) -> Job:
    """Queue a generation job over the items ``item_filter`` matches (bootstrapping reads
    the project's approved tasks instead), with the base model or, with ``start_job_id``,
    the tuned model of a finished fine-tune of the project. ``within``: the projects the
    actor manages (None: any); one outside reads as missing."""
    project = session.get(Project, project_id)
    if project is None or within is not None and project_id not in within:
        raise InvalidInput(NO_PROJECT, id=project_id, errors={"project_id": N_("Invalid.")})
    if spec.task == "try":
        raise InvalidInput(
            N_("A model is tried from its finished job's page (or the job's try API)."),
            errors={"task": N_("Invalid.")},
        )
    model, start_job = _model(
        session, project_id, base_model, start_job_id, artifacts_root, model_roots
    )
    f = item_filter or ItemFilter(project_id=project_id)
    if spec.task == "bootstrap":
        f = ItemFilter(project_id=project_id)
    pinned = repository.matching_versions(
        session,
        replace(f, project_id=project_id),
        *eligible(spec.task),
        limit=generation.MAX_INPUTS + 1,
    )
    if not pinned:
        raise InvalidInput(NOTHING_TO_DO[spec.task], errors={"items": NOTHING_TO_DO[spec.task]})
    if len(pinned) > generation.MAX_INPUTS and spec.task != "bootstrap":
        raise InvalidInput(
            N_(
                "%(count)s or more items match; one generation job reads at most %(max)s. "
                "Narrow the filter, or launch several jobs."
            ),
            count=generation.MAX_INPUTS + 1,
            max=generation.MAX_INPUTS,
            errors={"items": N_("Too many items.")},
        )
    job = _queue(session, project_id, spec, model, start_job, actor, parent, pinned)
    return job


def _model(session, project_id, base_model, start_job_id, artifacts_root, model_roots):
    """The base model the job loads, and the fine-tune whose tuned model it generates with."""
    if start_job_id is None:
        if not (base_model or "").strip():
            raise InvalidInput(
                N_("Choose a finished job's model or type a base model."),
                errors={"base_model": N_("Choose or type a base model.")},
            )
        return check_base_model(base_model, model_roots=model_roots), None
    if artifacts_root is None:
        raise ValueError("generating with a job's model needs the artifact store's folder")
    start_job = start.check(
        session, start_job_id=start_job_id, project_id=project_id, artifacts_root=artifacts_root
    )
    return start_job.base_model, start_job


def _queue(session, project_id, spec, model, start_job, actor, parent, pinned) -> Job:
    job = Job(
        project_id=project_id,
        kind="generate",
        base_model=model,
        # Precision, seed and the rest of how the model loads: the fine-tune's defaults, or
        # those of the job whose model it generates with.
        params=(start_job.params if start_job else JobParams().model_dump(mode="json")),
        generation=spec.model_dump(mode="json"),
        created_by=actor.id,
        parent_id=parent.id if parent else None,
        start_job_id=start_job.id if start_job else None,
        # Progress counts inputs answered; a bootstrap, the prompts it sends.
        total_steps=(
            spec.rounds * spec.prompts_per_round if spec.task == "bootstrap" else len(pinned)
        ),
    )
    session.add(job)
    session.flush()
    # A bootstrap's inputs are its example tasks: read, never answered.
    state, reason = ("done", "seed") if spec.task == "bootstrap" else ("pending", None)
    session.execute(
        insert(GenerationInput),
        [
            {
                "job_id": job.id,
                "item_id": item_id,
                "item_version": version,
                "state": state,
                "reason": reason,
            }
            for item_id, version in pinned
        ],
    )
    audit.record(
        session,
        actor=actor,
        action="job.retried" if parent else "job.launched",
        entity_type="job",
        entity_id=job.id,
        after={
            "kind": "generate",
            "task": spec.task,
            "base_model": job.base_model,
            "start_job": job.start_job_id,
            "inputs": len(pinned),
            "parent": job.parent_id,
        },
    )
    return job


def retry(
    *,
    session: Session,
    job_id: int,
    actor: User,
    artifacts_root: str | Path | None = None,
    model_roots: Sequence[Path] = (),
) -> Job:
    """A new generation job with the same settings over the inputs the old one did not
    finish, each at the item's version now (an item edited meanwhile is read afresh)."""
    job = get_job(session=session, job_id=job_id)
    if job.status not in FINISHED:
        raise Conflict(
            N_("Only a finished job can be retried; this one is %(status)s."), status=job.status
        )
    spec = GenerationSpec.model_validate(job.generation)
    unfinished = select(GenerationInput.item_id).where(
        GenerationInput.job_id == job.id, GenerationInput.state == "pending"
    )
    ids = tuple(i for i in session.scalars(unfinished) if i is not None)
    if not ids and spec.task != "bootstrap":
        raise Conflict(
            N_("Job #%(id)s finished every item it read; there is nothing to retry."), id=job.id
        )
    # The retry takes them over: retrying this job again will not read them twice.
    session.execute(
        update(GenerationInput)
        .where(GenerationInput.job_id == job.id, GenerationInput.state == "pending")
        .values(state="skipped", reason="retried")
    )
    return launch(
        session=session,
        project_id=job.project_id,
        spec=spec,
        base_model=job.base_model,
        actor=actor,
        item_filter=ItemFilter(project_id=job.project_id, item_ids=ids),
        start_job_id=job.start_job_id,
        artifacts_root=artifacts_root,
        model_roots=model_roots,
        parent=job,
    )


def input_count(session: Session, job: Job) -> int:
    """How many items the job reads (a bootstrap: its example tasks)."""
    return session.scalar(select(func.count()).where(GenerationInput.job_id == job.id))
