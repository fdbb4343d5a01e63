"""Freezing a dataset version as a background task: the request queues it and returns; the
version appears, whole, when the task commits (a freeze is one transaction, so a process that
dies midway leaves nothing, and the next attempt starts again)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Kind, TaskContext
from app.datasets import versions
from app.datasets.versions import VersionFilter
from app.models import BackgroundTask, Project, User

KIND = "freeze"


def start(
    *,
    session: Session,
    project: Project,
    name: str,
    f: VersionFilter,
    actor: User,
    seed: int = 13,
    eval_fraction: float = 0.1,
    license: str = "",
) -> BackgroundTask:
    """Check what can be checked now (the name, the eval fraction, that some item matches),
    then queue the freeze."""
    versions.check_request(name=name, eval_fraction=eval_fraction)
    versions.check_matches(session, project.id, f)
    return queue.enqueue(
        session,
        kind=KIND,
        project_id=project.id,
        payload={
            "name": name.strip(),
            "filter": f.as_dict(),
            "seed": seed,
            "eval_fraction": eval_fraction,
            "license": license,
            "actor_id": actor.id,
        },
        actor=actor,
    )


def run(session: Session, ctx: TaskContext) -> dict[str, Any]:
    payload = ctx.payload
    version = versions.create_version(
        session=session,
        project=session.get(Project, ctx.project_id),
        name=payload["name"],
        f=VersionFilter.from_dict(payload["filter"]),
        actor=session.get(User, payload["actor_id"]),
        seed=payload["seed"],
        eval_fraction=payload["eval_fraction"],
        license=payload["license"],
        progress=ctx.progress,
    )
    return {
        "version_id": version.id,
        "name": version.name,
        "items": version.train_count + version.eval_count,
    }


def settle(session: Session, ctx: TaskContext, state: str, message: str) -> None:
    """Nothing to mark: a freeze that did not finish left no version behind."""


KINDS = {KIND: Kind(run=run, settle=settle)}
