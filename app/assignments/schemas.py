"""Pydantic bodies of the assignments API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.assignments.service import MAX_ITEMS
from app.core.kinds import ItemKind
from app.core.provenance import Origin
from app.db import MAX_INTEGER

Task = Literal["write", "label", "fix", "review"]
RowId = Annotated[int, Field(ge=1, le=MAX_INTEGER)]
Email = Annotated[str, Field(max_length=320)]


class ItemQuery(BaseModel):
    """The item list's filters: every item of the project that matches them all."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field("", max_length=200)
    kind: ItemKind | None = None
    status: Literal["draft", "submitted", "approved", "rejected", "changes_requested"] | None = None
    domain: str | None = Field(None, max_length=100)
    tag: str | None = Field(None, max_length=100)
    author: RowId | None = None
    difficulty: int | None = Field(None, ge=1, le=5)
    language: str | None = Field(None, max_length=16)
    origin: Origin | None = None
    created_from: date | None = None
    created_to: date | None = None

    def as_params(self) -> dict[str, str]:
        """The filters as the item list's query parameters."""
        return {k: str(v) for k, v in self.model_dump(exclude_none=True).items() if v != ""}


class AssignIn(BaseModel):
    """Make these people exactly the assignees of the task on each item: the items named, or
    every item matching the filters."""

    item_ids: list[RowId] = Field(default_factory=list, max_length=MAX_ITEMS)
    matching: ItemQuery | None = Field(
        None, description="Instead of item_ids: every item matching these filters."
    )
    task: Task
    user_ids: list[RowId] = Field(default_factory=list, max_length=1000)
    emails: list[Email] = Field(
        default_factory=list, max_length=1000, description="Assignees by email, with user_ids."
    )
    due_date: date | None = None

    @model_validator(mode="after")
    def _items_one_way(self) -> AssignIn:
        if bool(self.item_ids) == (self.matching is not None):
            raise ValueError("Give item_ids or matching, not both and not neither.")
        return self


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
