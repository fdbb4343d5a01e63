"""Reading assignments: whether each is done, a person's open work, a project's progress,
quotas, and the clauses the review queue and labeling use to honour assignments.

"Done" is read, never stored: writing or fixing is done once the item left draft and
changes-requested (submitted, approved or rejected); labeling once the assignee labeled the
item; reviewing once the assignee decided on it since being assigned, or once the item is
decided (approved, rejected or sent back) by anyone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from app.models import Assignment, Item, Label, Project, ProjectMember, Review, User
from app.models.base import utcnow

EXCERPT = 80
WRITTEN = ("submitted", "approved", "rejected")
DECIDED = ("approved", "rejected", "changes_requested")


def done_clause():
    """True where the assignment (joined with its item) is done."""
    labeled = exists().where(
        Label.item_id == Assignment.item_id, Label.annotator_id == Assignment.user_id
    )
    reviewed = exists().where(
        Review.item_id == Assignment.item_id,
        Review.reviewer_id == Assignment.user_id,
        Review.created_at >= Assignment.created_at,
    )
    return or_(
        and_(Assignment.task.in_(("write", "fix")), Item.status.in_(WRITTEN)),
        and_(Assignment.task == "label", labeled),
        and_(Assignment.task == "review", or_(reviewed, Item.status.in_(DECIDED))),
    )


def _excerpt(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


@dataclass(frozen=True)
class AssignmentRow:
    """One assignment in a project's list."""

    id: int
    item_id: int
    excerpt: str
    user_id: int
    email: str
    display_name: str
    task: str
    due_date: date | None
    done: bool
    created_at: datetime


def listing(
    *,
    session: Session,
    project_id: int,
    user_id: int | None = None,
    task: str | None = None,
    limit: int = 500,
    after_id: int | None = None,
) -> list[AssignmentRow]:
    """A project's assignments, oldest first, ``limit`` at a time after ``after_id``."""
    query = (
        select(
            Assignment,
            func.substr(Item.instruction, 1, EXCERPT * 2).label("text"),
            User.email,
            User.display_name,
            done_clause().label("done"),
        )
        .join(Item, Item.id == Assignment.item_id)
        .join(User, User.id == Assignment.user_id)
        .where(Assignment.project_id == project_id)
        .order_by(Assignment.id)
        .limit(limit)
    )
    if user_id is not None:
        query = query.where(Assignment.user_id == user_id)
    if task:
        query = query.where(Assignment.task == task)
    if after_id is not None:
        query = query.where(Assignment.id > after_id)
    return [
        AssignmentRow(
            id=a.id,
            item_id=a.item_id,
            excerpt=_excerpt(text),
            user_id=a.user_id,
            email=email,
            display_name=name,
            task=a.task,
            due_date=a.due_date,
            done=bool(done),
            created_at=a.created_at,
        )
        for a, text, email, name, done in session.execute(query)
    ]


@dataclass(frozen=True)
class OpenAssignment:
    """Work still waiting for the person it was handed to."""

    id: int
    project_id: int
    project_name: str
    item_id: int
    excerpt: str
    task: str
    due_date: date | None
    overdue: bool


def open_for(
    *,
    session: Session,
    user: User,
    project_ids: Iterable[int] | None = None,
    today: date | None = None,
    limit: int = 200,
) -> list[OpenAssignment]:
    """The person's open assignments, soonest due first and undated ones last."""
    today = today or utcnow().date()
    query = (
        select(
            Assignment,
            Project.name,
            func.substr(Item.instruction, 1, EXCERPT * 2).label("text"),
        )
        .join(Item, Item.id == Assignment.item_id)
        .join(Project, Project.id == Assignment.project_id)
        .where(Assignment.user_id == user.id, ~done_clause())
        .order_by(
            case((Assignment.due_date.is_(None), 1), else_=0),
            Assignment.due_date,
            Assignment.id,
        )
        .limit(limit)
    )
    if project_ids is not None:
        query = query.where(Assignment.project_id.in_(list(project_ids)))
    return [
        OpenAssignment(
            id=a.id,
            project_id=a.project_id,
            project_name=name,
            item_id=a.item_id,
            excerpt=_excerpt(text),
            task=a.task,
            due_date=a.due_date,
            overdue=a.due_date is not None and a.due_date < today,
        )
        for a, name, text in session.execute(query)
    ]


@dataclass(frozen=True)
class Progress:
    """One assignee's open and done assignments in a project."""

    user_id: int
    email: str
    display_name: str
    open: int
    done: int

    @property
    def total(self) -> int:
        return self.open + self.done


def progress(*, session: Session, project_id: int) -> list[Progress]:
    """Per assignee in the project: how many assignments are open and how many done."""
    done = func.sum(case((done_clause(), 1), else_=0))
    query = (
        select(User.id, User.email, User.display_name, func.count(), done)
        .select_from(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(User, User.id == Assignment.user_id)
        .where(Assignment.project_id == project_id)
        .group_by(User.id, User.email, User.display_name)
        .order_by(User.email)
    )
    return [
        Progress(user_id=i, email=e, display_name=n, open=total - (d or 0), done=d or 0)
        for i, e, n, total, d in session.execute(query)
    ]


@dataclass(frozen=True)
class Quota:
    """A member's quota in one project and how much of it they have done."""

    project_id: int
    project_name: str
    quota: int
    done: int  # items they submitted plus items they labeled, as on the members page


def quotas_for(*, session: Session, user: User) -> list[Quota]:
    """Each project where the person has a quota, with what they contributed there."""
    rows = session.execute(
        select(ProjectMember.project_id, Project.name, ProjectMember.quota)
        .join(Project, Project.id == ProjectMember.project_id)
        .where(ProjectMember.user_id == user.id, ProjectMember.quota.is_not(None))
        .order_by(Project.name)
    ).all()
    if not rows:
        return []
    ids = [row.project_id for row in rows]
    submitted = dict(
        session.execute(
            select(Item.project_id, func.count())
            .where(Item.author_id == user.id, Item.status != "draft", Item.project_id.in_(ids))
            .group_by(Item.project_id)
        ).all()
    )
    labeled = dict(
        session.execute(
            select(Label.project_id, func.count())
            .where(Label.annotator_id == user.id, Label.project_id.in_(ids))
            .group_by(Label.project_id)
        ).all()
    )
    return [
        Quota(
            project_id=pid,
            project_name=name,
            quota=quota,
            done=submitted.get(pid, 0) + labeled.get(pid, 0),
        )
        for pid, name, quota in rows
    ]


def reviewers_for(session: Session, item_ids: Iterable[int]) -> dict[int, set[int]]:
    """item id → the people assigned to review it (items without any are left out)."""
    found: dict[int, set[int]] = defaultdict(set)
    ids = list(set(item_ids))
    for start in range(0, len(ids), 500):
        for item_id, user_id in session.execute(
            select(Assignment.item_id, Assignment.user_id).where(
                Assignment.task == "review", Assignment.item_id.in_(ids[start : start + 500])
            )
        ):
            found[item_id].add(user_id)
    return dict(found)


def offered_for_review(reviewer_id: int):
    """A clause on Item: items the review queue may offer this reviewer. An item with review
    assignments goes only to its assigned reviewers; any other item, to anyone."""
    assigned = select(Assignment.id).where(
        Assignment.item_id == Item.id, Assignment.task == "review"
    )
    return or_(~assigned.exists(), assigned.where(Assignment.user_id == reviewer_id).exists())


def task_first(user_id: int, task: str):
    """An ordering on Item that puts the items assigned to this person for ``task`` first."""
    mine = exists().where(
        Assignment.item_id == Item.id, Assignment.user_id == user_id, Assignment.task == task
    )
    return case((mine, 0), else_=1)
