"""A bulk action (submit, tag, delete drafts) over every item matching the item list's filter,
as a background task: the request queues it and returns; the task goes through the matches
in id order, a committed batch at a time, with the same rules and audit events as the
per-page actions.

The matches are the items that matched when the task was queued, bounded by the highest
matching id then: an item written later is never touched. Each batch's checkpoint holds the
last id done (and the list's cursor after it), so a resumed or retried attempt goes on after
the last committed batch; a cancel stops it between batches, the batches done staying done."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Kind, TaskContext
from app.errors import Forbidden, InvalidInput
from app.i18n import N_
from app.items import repository, service
from app.items.repository import ItemFilter
from app.members import access as members
from app.models import BackgroundTask, Item, Project, User

KIND = "items.bulk"
# Action → the phase its progress shows.
ACTIONS = {"submit": "submitting", "tag": "tagging", "delete": "deleting"}
# The item list's query parameter → the ItemFilter field it sets.
FILTER_FIELDS = {
    "q": "q", "kind": "kind", "status": "status", "domain": "domain", "tag": "tag",
    "author": "author_id", "difficulty": "difficulty", "language": "language",
    "origin": "origin", "drafted": "drafted", "created_from": "created_from",
    "created_to": "created_to",
}  # fmt: skip
# The task's total counts every match, where the list's status tabs stop at 10,000.
COUNT_ALL = 10**9


def stored_filter(f: ItemFilter) -> dict[str, Any]:
    """The filter as the item list's query parameters, in JSON values (dates as text): what
    the task keeps, and the link back to the list once it is done."""
    stored = {}
    for param, name in FILTER_FIELDS.items():
        value = getattr(f, name)
        if value not in (None, ""):
            stored[param] = value.isoformat() if isinstance(value, date) else value
    return stored


def filter_of(project_id: int, stored: dict[str, Any]) -> ItemFilter:
    """The filter a task kept (``stored_filter``), in id order."""
    values = {name: stored.get(param) for param, name in FILTER_FIELDS.items()}
    for name in ("created_from", "created_to"):
        if values[name]:
            values[name] = date.fromisoformat(values[name])
    return ItemFilter(project_id=project_id, **{**values, "q": values["q"] or ""}, sort="oldest")


def as_seen_by(session: Session, project: Project, f: ItemFilter, actor: User) -> ItemFilter:
    """The filter over ``project`` as ``actor`` lists it (others' private drafts left out),
    in id order; only the project's members may act on its items."""
    role = members.role_in(session, user=actor, project_id=project.id)
    if role is None or not actor.is_active:
        raise Forbidden(N_("Only the project's members can change its items."))
    found = members.Membership(
        user_id=actor.id, project_id=project.id, role=role, is_admin=actor.role == "admin"
    )
    drafts_of = members.drafts_of(found=found, drafts_shared=project.drafts_shared)
    return replace(f, project_id=project.id, sort="oldest", drafts_of=drafts_of)


def matching(session: Session, f: ItemFilter) -> tuple[int, int]:
    """How many items match, and the highest matching id (0 when none does)."""
    total = repository.count_matching(session, f, cap=COUNT_ALL)
    newest, _ = repository.page(session, replace(f, sort="newest"), limit=1)
    return total, newest[0].id if newest else 0


def start(
    *, session: Session, project: Project, f: ItemFilter, action: str, tag: str, actor: User
) -> BackgroundTask:
    """Check the action and that some item matches, then queue the task."""
    if action not in ACTIONS:
        raise InvalidInput(N_("Choose an action."), errors={"action": N_("Invalid.")})
    tag = service.checked_tag(tag) if action == "tag" else ""
    f = as_seen_by(session, project, f, actor)
    total, last_id = matching(session, f)
    if not total:
        raise InvalidInput(N_("No items match these filters."))
    stored = stored_filter(f)
    return queue.enqueue(
        session,
        kind=KIND,
        project_id=project.id,
        payload={
            "action": action,
            "tag": tag,
            "filter": stored,
            "last_id": last_id,
            "total": total,
            "actor_id": actor.id,
        },
        actor=actor,
        total=total,
        details={"action": action, "tag": tag, "filter": stored, "items": total},
    )


def run(session: Session, ctx: TaskContext) -> dict[str, Any]:
    """The matches in id order, a committed batch at a time, from the last batch an earlier
    attempt committed."""
    payload, done = ctx.payload, dict(ctx.checkpoint)
    if done.get("finished"):  # cancelled or stopped just after its last batch
        return _result(payload, done)
    actor = session.get(User, payload["actor_id"])
    if actor is None:
        raise Forbidden(N_("Only the project's members can change its items."))
    project = session.get(Project, ctx.project_id)
    f = as_seen_by(session, project, filter_of(project.id, payload["filter"]), actor)
    phase, total = ACTIONS[payload["action"]], payload["total"]
    cursor, changed, seen = done.get("cursor"), done.get("changed", 0), done.get("items", 0)
    ctx.progress(phase, seen, total)
    while True:
        rows, cursor = repository.page(session, f, cursor=cursor, limit=ctx.batch_rows)
        batch = [item for item in rows if item.id <= payload["last_id"]]
        finished = cursor is None or len(batch) < len(rows)
        changed += _apply(session, payload, batch, actor)
        seen += len(batch)
        done = {
            "cursor": cursor,
            "last_id": batch[-1].id if batch else done.get("last_id", 0),
            "changed": changed,
            "items": seen,
            "finished": finished,
        }
        ctx.commit(session, done, phase, seen, max(total, seen))
        if finished:
            return _result(payload, done)


def _apply(session: Session, payload: dict[str, Any], batch: list[Item], actor: User) -> int:
    """The per-page action's rules, on one batch: how many items it changed."""
    if payload["action"] == "submit":
        return service.submit_items(session=session, items=batch, actor=actor)
    if payload["action"] == "tag":
        return service.tag_items(session=session, items=batch, tag=payload["tag"], actor=actor)
    return service.delete_drafts(session=session, items=batch, actor=actor)


def _result(payload: dict[str, Any], done: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": payload["action"],
        "tag": payload["tag"],
        "filter": payload["filter"],
        "changed": done.get("changed", 0),
        "items": done.get("items", 0),
    }


def settle(session: Session, ctx: TaskContext, state: str, message: str) -> None:
    """Nothing to mark: the batches committed stay done, and the task says how far it got."""


def reopen(session: Session, ctx: TaskContext) -> None:
    """Nothing to put back: a retry goes on after the last committed batch."""


KINDS = {KIND: Kind(run=run, settle=settle, reopen=reopen)}
