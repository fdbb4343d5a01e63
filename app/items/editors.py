"""Who may change an item: its author, the project's reviewers and managers, and whoever it
is handed to for writing or fixing. One rule, asked of one item (``can_edit``, the editor) or
of a batch (``editable_ids``, the bulk actions: one role lookup and one query per batch, where
asking item by item would cost a query each)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.members import access as members
from app.models import Assignment, AssignmentTask, Item, ProjectRole, User

HANDED_FOR_WRITING = (AssignmentTask.write, AssignmentTask.fix)
# Ids per IN list: well under SQLite's limit on bound parameters.
CHUNK = 1000


def can_edit(user: User, item: Item) -> bool:
    """Its author, the project's reviewers and managers, and whoever it is assigned to for
    writing or fixing may change an item."""
    session = object_session(item)
    if item.author_id == user.id:
        return True
    if session is None:
        return False
    return item.id in editable_ids(session, user, [item])


def editable_ids(session: Session, user: User, items: Sequence[Item]) -> set[int]:
    """The ids of those ``items`` that ``user`` may change (``can_edit`` for each)."""
    editable = {item.id for item in items if item.author_id == user.id}
    by_project: dict[int, list[int]] = {}
    for item in items:
        if item.id not in editable:
            by_project.setdefault(item.project_id, []).append(item.id)
    for project_id, others in by_project.items():
        role = members.role_in(session, user=user, project_id=project_id)
        if role is None:
            continue
        if role.rank >= ProjectRole.reviewer.rank:
            editable.update(others)
        else:
            editable.update(_handed(session, user, others))
    return editable


def _handed(session: Session, user: User, item_ids: list[int]) -> Iterable[int]:
    """Which of these items are assigned to ``user`` for writing or fixing."""
    for start in range(0, len(item_ids), CHUNK):
        yield from session.scalars(
            select(Assignment.item_id)
            .where(
                Assignment.item_id.in_(item_ids[start : start + CHUNK]),
                Assignment.user_id == user.id,
                Assignment.task.in_(HANDED_FOR_WRITING),
            )
            .distinct()
        )
