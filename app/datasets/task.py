"""Freezing a dataset version as a background task: the request queues it and returns. The
version appears, whole, when its first transaction commits: pinned, split, hashed and checked
for contamination, so a process that dies before leaves nothing and the next attempt starts
again. Its statistics follow in a second transaction (a resumed attempt computes only them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Kind, TaskContext
from app.datasets import freezing, versions
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
    freezing.check_request(name=name, eval_fraction=eval_fraction)
    freezing.check_matches(session, project.id, f)
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
    """Freeze and commit the version (usable from then on), then add its statistics."""
    payload = ctx.payload
    rows = None
    version_id = ctx.checkpoint.get("version_id")
    if version_id is None:
        version, rows = freezing.freeze(
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
        ctx.commit(session, {"version_id": version.id}, "statistics", 3, freezing.FREEZE_PHASES)
    else:  # frozen by an earlier attempt: only the statistics are left
        version = versions.get_version(session=session, version_id=version_id)
    freezing.add_statistics(session, version, rows)
    return {
        "version_id": version.id,
        "name": version.name,
        "items": version.train_count + version.eval_count,
    }


def settle(session: Session, ctx: TaskContext, state: str, message: str) -> None:
    """Nothing to mark: a freeze that did not finish left no version behind, or one whose
    statistics are missing (its page says so)."""


def reopen(session: Session, ctx: TaskContext) -> None:
    """Nothing to put back: a retry freezes the version again from the start, or computes
    only the statistics of the version an earlier attempt committed."""


KINDS = {KIND: Kind(run=run, settle=settle, reopen=reopen)}
