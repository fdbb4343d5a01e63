"""What an item editor sends, and how items look in the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.kinds import ConstraintRef, Demo, ItemKind


class ItemDraft(BaseModel):
    """An item's content plus its metadata; validated by the service, which names each
    field in its errors so the form can show them in place."""

    kind: ItemKind
    instruction: str = ""
    input: str = ""
    output: str = ""
    demos: list[Demo] = Field(default_factory=list)
    constraints: list[ConstraintRef] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    state_constraints: bool = True
    domain: str | None = Field(default=None, max_length=100)
    difficulty: int | None = Field(default=None, ge=1, le=5)
    tags: list[str] = Field(default_factory=list)
    language: str | None = Field(default=None, description="Detected when empty.")


class ItemIn(ItemDraft):
    version: int | None = Field(default=None, description="Required to update: the version read.")
    submit: bool = False


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    kind: str
    status: str
    instruction: str
    input: str
    output: str
    demos: list[dict[str, Any]]
    constraints: list[dict[str, Any]]
    rules: list[str]
    state_constraints: bool
    domain: str | None
    difficulty: int | None
    language: str
    tags: list[str]
    source: str | None
    author_id: int | None
    guideline_version: int
    content_hash: str
    version: int
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None
    counts: dict[str, int] | None = Field(
        description="Items per status for the filter, on the first page only (null after); "
        "each count stops at counts_capped_at."
    )
    counts_capped_at: int


class LabelIn(BaseModel):
    kind: Literal["task", "constraint", "example"]
    domain: str | None = Field(default=None, max_length=100)
    difficulty: int = Field(ge=1, le=5)
    quality: int = Field(ge=1, le=5)
    flags: list[Literal["unsafe", "factually_wrong", "unclear"]] = Field(default_factory=list)
