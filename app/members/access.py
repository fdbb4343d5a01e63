"""Which project a request is about, and what the caller's role in it is.

A project-scoped route names its project through one path parameter: the project itself, or
an item, dataset version, job or import inside it. A caller who is not a member learns
nothing, not even that the project exists: every such lookup answers "not found", as a
missing id does. Global admins act as managers in every project.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.i18n import N_
from app.models import (
    Assignment,
    BackgroundTask,
    DatasetVersion,
    EvalRound,
    ImportJob,
    Item,
    Job,
    Project,
    ProjectMember,
    ProjectRole,
    User,
)

# Path parameter → the table whose ``project_id`` (or own id, for projects) places it.
SCOPES: dict[str, type] = {
    "project_id": Project,
    "item_id": Item,
    "version_id": DatasetVersion,
    "job_id": Job,
    "import_id": ImportJob,
    "task_id": BackgroundTask,
    "round_id": EvalRound,
}
NOT_FOUND = N_("Not found.")
_ROLES = "members.roles"  # session.info key: (user id, project id) → role looked up


@dataclass(frozen=True)
class Membership:
    """The caller's standing in the project a request is about."""

    user_id: int
    project_id: int
    role: ProjectRole
    is_admin: bool

    def at_least(self, role: ProjectRole | str) -> bool:
        return self.role.rank >= ProjectRole(role).rank


def project_of(session: Session, params: Mapping[str, object]) -> int:
    """The one project every scoped path parameter points into; NotFound when one is
    missing or two disagree (an item of another project under this project's path)."""
    found: set[int] = set()
    for name, table in SCOPES.items():
        if name not in params:
            continue
        try:
            key = int(str(params[name]))
        except ValueError:
            raise NotFound(NOT_FOUND) from None
        column = table.id if table is Project else table.project_id
        project_id = session.scalar(select(column).where(table.id == key))
        if project_id is None:
            raise NotFound(NOT_FOUND)
        found.add(project_id)
    if len(found) != 1:
        raise NotFound(NOT_FOUND)
    return found.pop()


def role_in(session: Session, *, user: User, project_id: int) -> ProjectRole | None:
    """The user's role in the project: manager for an admin, None for a non-member. Looked up
    once per unit of work (a bulk action asks for every item it touches)."""
    if user.role == "admin":
        return ProjectRole.manager
    known = session.info.setdefault(_ROLES, {})
    key = (user.id, project_id)
    if key not in known:
        known[key] = session.scalar(
            select(ProjectMember.role).where(
                ProjectMember.project_id == project_id, ProjectMember.user_id == user.id
            )
        )
    return ProjectRole(known[key]) if known[key] else None


@event.listens_for(Session, "after_transaction_end")
def forget(session: Session, *_transaction: object) -> None:
    """Drop the roles looked up so far: after a membership changes, and when a transaction
    ends (the next one may see other changes)."""
    session.info.pop(_ROLES, None)


def membership(session: Session, *, user: User, project_id: int) -> Membership:
    """The caller's membership, or NotFound for someone outside the project."""
    role = role_in(session, user=user, project_id=project_id)
    if role is None:
        raise NotFound(NOT_FOUND)
    return Membership(
        user_id=user.id, project_id=project_id, role=role, is_admin=user.role == "admin"
    )


def drafts_of(*, found: Membership, drafts_shared: bool) -> int | None:
    """Whose drafts this member may see: only their own (an annotator in a project that keeps
    drafts private), or everyone's (None)."""
    if drafts_shared or found.at_least(ProjectRole.reviewer):
        return None
    return found.user_id


def check_item(session: Session, found: Membership, params: Mapping[str, object]) -> None:
    """A draft of someone else's, kept private from this member and not handed to them, is as
    good as missing."""
    if "item_id" not in params or found.at_least(ProjectRole.reviewer):
        return
    row = session.execute(
        select(Item.status, Item.author_id, Project.drafts_shared)
        .join(Project, Project.id == Item.project_id)
        .where(Item.id == int(str(params["item_id"])))
    ).one()
    owner = drafts_of(found=found, drafts_shared=row.drafts_shared)
    if row.status == "draft" and owner is not None and row.author_id != owner:
        handed = select(Assignment.id).where(
            Assignment.item_id == int(str(params["item_id"])), Assignment.user_id == owner
        )
        if session.scalar(handed.limit(1)) is None:
            raise NotFound(NOT_FOUND)


def project_ids(
    session: Session, *, user: User, at_least: ProjectRole | str = ProjectRole.annotator
) -> set[int] | None:
    """The projects where the user holds at least this role; None means all (an admin)."""
    if user.role == "admin":
        return None
    wanted = [r.value for r in ProjectRole if r.rank >= ProjectRole(at_least).rank]
    return set(
        session.scalars(
            select(ProjectMember.project_id).where(
                ProjectMember.user_id == user.id, ProjectMember.role.in_(wanted)
            )
        )
    )


def memberships_of(session: Session, *, user_id: int) -> list[tuple[int, str, str]]:
    """(project id, name, role) of each project the person is a member of, by name."""
    rows = session.execute(
        select(Project.id, Project.name, ProjectMember.role)
        .join(ProjectMember, ProjectMember.project_id == Project.id)
        .where(ProjectMember.user_id == user_id)
        .order_by(Project.name)
    )
    return [tuple(row) for row in rows]


def memberships_by_user(session: Session) -> dict[int, list[tuple[int, str, str]]]:
    """user id → (project id, name, role) of each of their projects, by name: for the admin's
    list of people, in one query."""
    rows = session.execute(
        select(ProjectMember.user_id, Project.id, Project.name, ProjectMember.role)
        .join(Project, Project.id == ProjectMember.project_id)
        .order_by(Project.name)
    )
    found: dict[int, list[tuple[int, str, str]]] = {}
    for user_id, project_id, name, role in rows:
        found.setdefault(user_id, []).append((project_id, name, role))
    return found


def manages_any(session: Session, *, user: User) -> bool:
    """Whether the user manages at least one project (admins manage all)."""
    found = project_ids(session, user=user, at_least=ProjectRole.manager)
    return found is None or bool(found)
