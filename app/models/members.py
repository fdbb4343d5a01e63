"""Who belongs to a project, in which role, and the work handed out to them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class ProjectRole(StrEnum):
    """What a member may do inside one project, lowest first."""

    annotator = "annotator"
    reviewer = "reviewer"
    manager = "manager"

    @property
    def rank(self) -> int:
        return list(ProjectRole).index(self)

    @classmethod
    def for_global_role(cls, role: str) -> ProjectRole:
        """The project role that matches a global role (an admin manages)."""
        return cls.manager if role == "admin" else cls(role)


class AssignmentTask(StrEnum):
    """What an assignee is asked to do with an item."""

    write = "write"
    label = "label"
    fix = "fix"
    review = "review"


class ProjectMember(Base):
    __tablename__ = "project_members"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id", name="uq_project_members_project_user"),
        CheckConstraint("role IN ('annotator', 'reviewer', 'manager')", name="role"),
        CheckConstraint("quota IS NULL OR quota >= 1", name="quota"),
        Index("ix_project_members_user", "user_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    # How many contributions (items submitted plus items labeled) the member is asked for.
    quota: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Assignment(Base):
    """One item handed to one person for one task; several people may share an item's task
    (labeling overlap, two approvals), and an item with review assignments is reviewed only
    by them."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "task", "user_id", name="uq_assignments_item_task_user"),
        CheckConstraint("task IN ('write', 'label', 'fix', 'review')", name="task"),
        Index("ix_assignments_user_project", "user_id", "project_id", "due_date"),
        Index("ix_assignments_project_task", "project_id", "task", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    task: Mapped[str] = mapped_column(String(16))
    due_date: Mapped[date | None]
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
