"""Pydantic bodies of the assignments API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.assignments.service import MAX_ITEMS
from app.db import MAX_INTEGER

Task = Literal["write", "label", "fix", "review"]
RowId = Annotated[int, Field(ge=1, le=MAX_INTEGER)]
Email = Annotated[str, Field(max_length=320)]


class AssignIn(BaseModel):
    """Make these people exactly the assignees of the task on each item."""

    item_ids: list[RowId] = Field(min_length=1, max_length=MAX_ITEMS)
    task: Task
    user_ids: list[RowId] = Field(default_factory=list, max_length=1000)
    emails: list[Email] = Field(
        default_factory=list, max_length=1000, description="Assignees by email, with user_ids."
    )
    due_date: date | None = None


class UnassignIn(BaseModel):
    """Take these people (everyone, when user_ids is left out) off the task on each item."""

    item_ids: list[RowId] = Field(min_length=1, max_length=MAX_ITEMS)
    task: Task
    user_ids: list[RowId] | None = Field(default=None, max_length=1000)


class SummaryOut(BaseModel):
    items: int = Field(description="Items the call was about.")
    changed: int = Field(description="Items whose assignees or due date changed.")


class AssignmentOut(BaseModel):
    id: int
    item_id: int
    excerpt: str
    user_id: int
    email: str
    task: Task
    due_date: date | None
    done: bool
    created_at: datetime


class OpenAssignmentOut(BaseModel):
    id: int
    project_id: int
    project_name: str
    item_id: int
    excerpt: str
    task: Task
    due_date: date | None
    overdue: bool
