"""Adding, changing and removing a project's members; every change is audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.members import access
from app.models import Assignment, Item, Label, Project, ProjectMember, ProjectRole, User

ROLES = tuple(r.value for r in ProjectRole)
MAX_QUOTA = 1_000_000


@dataclass(frozen=True)
class MemberRow:
    """A member with what they have contributed towards their quota."""

    member: ProjectMember
    user: User
    submitted: int  # items they wrote that left draft
    labeled: int  # items they labeled

    @property
    def done(self) -> int:
        return self.submitted + self.labeled


def _snapshot(member: ProjectMember, user: User) -> dict:
    return {
        "project_id": member.project_id,
        "user": user.email,
        "role": member.role,
        "quota": member.quota,
    }


def _check(role: str, quota: int | None) -> None:
    errors = {}
    if role not in ROLES:
        errors["role"] = N_("Choose annotator, reviewer or manager.")
    if quota is not None and not 1 <= quota <= MAX_QUOTA:
        errors["quota"] = N_("Leave empty, or a whole number from 1 to 1,000,000.")
    if errors:
        raise InvalidInput(N_("Please fix the highlighted fields."), errors=errors)


def find(session: Session, *, project_id: int, user_id: int) -> ProjectMember | None:
    return session.scalar(
        select(ProjectMember).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user_id
        )
    )


def _member(session: Session, *, project_id: int, user_id: int) -> tuple[ProjectMember, User]:
    member = find(session, project_id=project_id, user_id=user_id)
    user = session.get(User, user_id)
    if member is None or user is None:
        raise NotFound(N_("This person is not a member of the project."))
    return member, user


def add_member(
    *,
    session: Session,
    project: Project,
    user: User,
    role: str,
    actor: User | None,
    quota: int | None = None,
) -> ProjectMember:
    """Make ``user`` a member; one already in the project answers 409."""
    _check(role, quota)
    if find(session, project_id=project.id, user_id=user.id) is not None:
        raise Conflict(N_("%(email)s is already a member of this project."), email=user.email)
    member = ProjectMember(project_id=project.id, user_id=user.id, role=role, quota=quota)
    session.add(member)
    session.flush()
    access.forget(session)
    audit.record(
        session,
        actor=actor,
        action="member.added",
        entity_type="project",
        entity_id=project.id,
        after=_snapshot(member, user),
    )
    return member


def change_member(
    *,
    session: Session,
    project_id: int,
    user_id: int,
    role: str,
    quota: int | None,
    expected_version: int | None,
    actor: User,
) -> ProjectMember:
    """Change a member's role or quota; a stale version answers 409."""
    _check(role, quota)
    member, user = _member(session, project_id=project_id, user_id=user_id)
    if expected_version is not None and member.version != expected_version:
        raise Conflict(
            N_("This membership was changed by someone else meanwhile. Review and retry.")
        )
    before = _snapshot(member, user)
    member.role = role
    member.quota = quota
    session.flush()
    access.forget(session)
    audit.record(
        session,
        actor=actor,
        action="member.changed",
        entity_type="project",
        entity_id=project_id,
        before=before,
        after=_snapshot(member, user),
    )
    return member


def remove_member(*, session: Session, project_id: int, user_id: int, actor: User) -> None:
    """Take someone out of the project; their work stays, their open assignments go."""
    member, user = _member(session, project_id=project_id, user_id=user_id)
    before = _snapshot(member, user)
    dropped = session.execute(
        Assignment.__table__.delete().where(
            Assignment.project_id == project_id, Assignment.user_id == user_id
        )
    ).rowcount
    session.delete(member)
    session.flush()
    access.forget(session)
    audit.record(
        session,
        actor=actor,
        action="member.removed",
        entity_type="project",
        entity_id=project_id,
        before={**before, "assignments_dropped": dropped},
    )


def list_members(*, session: Session, project_id: int) -> list[MemberRow]:
    """Members, managers first, each with their contribution counts for quotas."""
    rows = session.execute(
        select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(ProjectMember.role.desc(), User.display_name, User.id)
    ).all()
    ids = [user.id for _, user in rows]
    submitted = _counts(
        session,
        select(Item.author_id, func.count())
        .where(Item.project_id == project_id, Item.status != "draft", Item.author_id.in_(ids))
        .group_by(Item.author_id),
    )
    labeled = _counts(
        session,
        select(Label.annotator_id, func.count())
        .where(Label.project_id == project_id, Label.annotator_id.in_(ids))
        .group_by(Label.annotator_id),
    )
    order = {r.value: r.rank for r in ProjectRole}
    result = [
        MemberRow(member=m, user=u, submitted=submitted.get(u.id, 0), labeled=labeled.get(u.id, 0))
        for m, u in rows
    ]
    return sorted(result, key=lambda r: -order[r.member.role])


def _counts(session: Session, query) -> dict[int, int]:
    return {key: count for key, count in session.execute(query) if key is not None}


def non_members(*, session: Session, project_id: int) -> Sequence[User]:
    """Active people who could be added."""
    inside = select(ProjectMember.user_id).where(ProjectMember.project_id == project_id)
    return session.scalars(
        select(User).where(User.is_active, User.id.not_in(inside)).order_by(User.email)
    ).all()


def member_row(*, session: Session, project_id: int, user_id: int) -> MemberRow:
    """One member with their contribution counts; NotFound for someone outside the project."""
    for row in list_members(session=session, project_id=project_id):
        if row.user.id == user_id:
            return row
    raise NotFound(N_("This person is not a member of the project."))


def update_member(
    *,
    session: Session,
    project_id: int,
    user_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
    actor: User,
) -> ProjectMember:
    """Change only what ``changes`` names (``role``, ``quota``; a quota of None removes it)."""
    member, _ = _member(session, project_id=project_id, user_id=user_id)
    return change_member(
        session=session,
        project_id=project_id,
        user_id=user_id,
        role=changes.get("role", member.role),
        quota=changes.get("quota", member.quota),
        expected_version=expected_version,
        actor=actor,
    )
