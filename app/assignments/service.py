"""Handing items to people: who is asked to write, label, fix or review which item, by when.

An item's task has a set of assignees; assigning sets that set, unassigning shrinks it, and
each item whose set or due date changes writes one audit event. Whether an assignment is done
is never stored: it is read from the item, its labels and its reviews (app.assignments.queries).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.assignments.queries import (
    AssignmentRow,
    OpenAssignment,
    Progress,
    Quota,
    listing,
    offered_for_review,
    open_for,
    progress,
    quotas_for,
    reviewers_for,
    task_first,
)
from app.audit import service as audit
from app.errors import InvalidInput, NotFound
from app.i18n import N_
from app.models import Assignment, AssignmentTask, Item, ProjectMember, ProjectRole, User

__all__ = [
    "MAX_ITEMS",
    "TASKS",
    "AssignmentRow",
    "OpenAssignment",
    "Progress",
    "Quota",
    "Summary",
    "assign",
    "listing",
    "offered_for_review",
    "open_for",
    "progress",
    "quotas_for",
    "reviewers_for",
    "task_first",
    "unassign",
    "user_ids_for",
]

TASKS = tuple(t.value for t in AssignmentTask)
# One request assigns at most this many items: each changed item writes an audit event.
MAX_ITEMS = 5_000
# Who may be asked to do what: reviewing needs a reviewer; the rest, any member.
NEEDS = {"write": ProjectRole.annotator, "label": ProjectRole.annotator,
         "fix": ProjectRole.annotator, "review": ProjectRole.reviewer}  # fmt: skip


@dataclass(frozen=True)
class Summary:
    """What one assign or unassign call did."""

    items: int  # items it was asked about
    changed: int  # items whose assignees or due date changed


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise InvalidInput(
            N_("Choose write, label, fix or review."), errors={"task": N_("Invalid.")}
        )


def _items(session: Session, project_id: int, item_ids: Iterable[int]) -> list[int]:
    """The distinct ids, each an item of the project; any other id is not found."""
    ids = sorted(set(item_ids))
    if not ids:
        raise InvalidInput(N_("Select at least one item."), errors={"items": N_("Required.")})
    if len(ids) > MAX_ITEMS:
        raise InvalidInput(
            N_("At most %(max)s items at once; narrow the selection."),
            errors={"items": N_("Too many items.")},
            max=MAX_ITEMS,
        )
    found: set[int] = set()
    for chunk in _chunks(ids):
        found.update(
            session.scalars(
                select(Item.id).where(Item.project_id == project_id, Item.id.in_(chunk))
            )
        )
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(N_("No item with id %(id)s."), id=missing[0])
    return ids


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _assignees(
    session: Session, project_id: int, task: str, user_ids: Iterable[int]
) -> dict[int, str]:
    """user id → email for people who may take this task in the project; else InvalidInput
    naming the first who may not (in the message itself, so the JSON answer names them)."""
    ids = sorted(set(user_ids))
    rows = session.execute(
        select(User.id, User.email, ProjectMember.role)
        .outerjoin(
            ProjectMember,
            (ProjectMember.user_id == User.id) & (ProjectMember.project_id == project_id),
        )
        .where(User.id.in_(ids))
    ).all()
    known = {row.id: row for row in rows}
    for user_id in ids:
        row = known.get(user_id)
        if row is None:
            raise InvalidInput(N_("No user with id %(id)s."), id=user_id)
        if row.role is None:
            raise InvalidInput(
                N_("%(email)s is not a member of this project."),
                email=row.email,
            )
        if ProjectRole(row.role).rank < NEEDS[task].rank:
            raise InvalidInput(
                N_("%(email)s is an annotator here; only reviewers and managers review."),
                email=row.email,
            )
    return {row.id: row.email for row in rows}


def user_ids_for(*, session: Session, emails: Iterable[str]) -> list[int]:
    """The ids of people named by email; an unknown address is invalid input naming it."""
    wanted = {e.strip().lower(): e for e in emails if e.strip()}
    query = select(func.lower(User.email), User.id).where(func.lower(User.email).in_(list(wanted)))
    found = {key: user_id for key, user_id in session.execute(query)}
    for key, email in wanted.items():
        if key not in found:
            raise InvalidInput(N_("No user with email %(email)s."), email=email)
    return [found[key] for key in wanted]


def _current(session: Session, task: str, item_ids: Sequence[int]) -> dict[int, list[Assignment]]:
    """The task's assignments on each item."""
    found: dict[int, list[Assignment]] = {i: [] for i in item_ids}
    for chunk in _chunks(item_ids):
        for row in session.scalars(
            select(Assignment).where(Assignment.task == task, Assignment.item_id.in_(chunk))
        ):
            found[row.item_id].append(row)
    return found


def _emails(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    ids = set(user_ids)
    if not ids:
        return {}
    query = select(User.id, User.email).where(User.id.in_(ids))
    return {user_id: email for user_id, email in session.execute(query)}


def _state(task: str, user_ids: Iterable[int], emails: dict[int, str], due: date | None) -> dict:
    return {
        "task": task,
        "assignees": sorted(emails[u] for u in user_ids),
        "due_date": due.isoformat() if due else None,
    }


def _record(session, *, actor, item_id: int, before: dict, after: dict) -> None:
    if not before["assignees"]:
        action = "assignment.added"
    elif not after["assignees"]:
        action = "assignment.removed"
    else:
        action = "assignment.reassigned"
    audit.record(
        session,
        actor=actor,
        action=action,
        entity_type="item",
        entity_id=item_id,
        before=before if before["assignees"] else None,
        after=after if after["assignees"] else None,
    )


def _no_self_review(
    session: Session, item_ids: Sequence[int], reviewers: set[int], emails: dict[int, str]
) -> None:
    """Nobody reviews what they wrote (app.reviews.independence), so nobody is asked to."""
    for chunk in _chunks(item_ids):
        found = session.execute(
            select(Item.id, Item.author_id).where(Item.id.in_(chunk), Item.author_id.in_(reviewers))
        ).first()
        if found is not None:
            raise InvalidInput(
                N_("%(email)s wrote item %(id)s and cannot review it."),
                email=emails[found.author_id],
                id=found.id,
            )


def assign(
    *,
    session: Session,
    project_id: int,
    item_ids: Iterable[int],
    task: str,
    user_ids: Iterable[int],
    due_date: date | None,
    actor: User | None,
) -> Summary:
    """Make ``user_ids`` exactly the assignees of ``task`` on each item, due ``due_date``."""
    _check_task(task)
    wanted = set(user_ids)
    if not wanted:
        raise InvalidInput(N_("Choose at least one person."), errors={"user_ids": N_("Required.")})
    ids = _items(session, project_id, item_ids)
    emails = _assignees(session, project_id, task, wanted)
    if task == AssignmentTask.review:
        _no_self_review(session, ids, wanted, emails)
    current = _current(session, task, ids)
    emails.update(_emails(session, {a.user_id for rows in current.values() for a in rows}))
    changed = 0
    for item_id in ids:
        rows = current[item_id]
        had = {a.user_id for a in rows}
        old_due = rows[0].due_date if rows else None
        if had == wanted and all(a.due_date == due_date for a in rows):
            continue
        for row in rows:
            if row.user_id not in wanted:
                session.delete(row)
            else:
                row.due_date = due_date
        for user_id in sorted(wanted - had):
            session.add(
                Assignment(
                    project_id=project_id,
                    item_id=item_id,
                    user_id=user_id,
                    task=task,
                    due_date=due_date,
                    assigned_by=actor.id if actor else None,
                )
            )
        _record(
            session,
            actor=actor,
            item_id=item_id,
            before=_state(task, had, emails, old_due),
            after=_state(task, wanted, emails, due_date),
        )
        changed += 1
    session.flush()
    return Summary(items=len(ids), changed=changed)


def unassign(
    *,
    session: Session,
    project_id: int,
    item_ids: Iterable[int],
    task: str,
    actor: User | None,
    user_ids: Iterable[int] | None = None,
) -> Summary:
    """Take ``user_ids`` (everyone, when None) off ``task`` on each item."""
    _check_task(task)
    ids = _items(session, project_id, item_ids)
    dropping = None if user_ids is None else set(user_ids)
    current = _current(session, task, ids)
    emails = _emails(session, {a.user_id for rows in current.values() for a in rows})
    changed = 0
    for item_id in ids:
        rows = current[item_id]
        gone = [a for a in rows if dropping is None or a.user_id in dropping]
        if not gone:
            continue
        due = rows[0].due_date
        kept = {a.user_id for a in rows} - {a.user_id for a in gone}
        for row in gone:
            session.delete(row)
        _record(
            session,
            actor=actor,
            item_id=item_id,
            before=_state(task, {a.user_id for a in rows}, emails, due),
            after=_state(task, kept, emails, due),
        )
        changed += 1
    session.flush()
    return Summary(items=len(ids), changed=changed)
