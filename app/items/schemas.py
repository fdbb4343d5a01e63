"""What an item editor sends, and how items look in the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.kinds import CONTENT_FIELDS, ContentFields, ItemKind
from app.core.provenance import Origin


class ItemDraft(ContentFields):
    """An item's content plus its metadata; validated by the service, which names each
    field in its errors so the form can show them in place."""

    model_config = ConfigDict(extra="ignore")

    instruction: str = ""
    domain: str | None = Field(default=None, max_length=100)
    difficulty: int | None = Field(default=None, ge=1, le=5)
    tags: list[str] = Field(default_factory=list)
    language: str | None = Field(default=None, description="Detected when empty.")

    def content_values(self) -> dict[str, Any]:
        """The draft's content fields, to validate as ``ItemContent``."""
        return {name: getattr(self, name) for name in CONTENT_FIELDS}


class ItemIn(ItemDraft):
    version: int | None = Field(default=None, description="Required to update: the version read.")
    submit: bool = False


class ItemOut(ContentFields):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: int
    project_id: int
    status: str
    domain: str | None
    difficulty: int | None
    tags: list[str]
    origin: Origin = Field(
        description="How the item was made: written, imported, demo, judged (a preference pair "
        "from an evaluation round's agreed verdict), improved (a person's better answer to a "
        "model output), augmented (from another item, by a rule or a model) or generated (an "
        "instruction a model proposed)."
    )
    provenance: dict[str, Any] = Field(
        description="What is known of how it was made: an import's id, file and line; a demo "
        "item's key; a pair's round, round prompt, job, source item, system, reason tags and "
        "votes; an augmented draft's source item, method, seed, failed constraints and the "
        "item it nearly duplicates; a generated one's job and round."
    )
    drafted_job_id: int | None = Field(
        default=None, description="The generation job that drafted the output, if a model did."
    )
    draft_edit_ratio: float | None = Field(
        default=None,
        description="How much of that drafted output people changed since (word-level edit "
        "ratio: 0 kept as is, 1 all of it).",
    )
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
    search_pending: bool = Field(
        default=False,
        description="With a search: an import's items are still being indexed, and search "
        "finds them once that pass ends.",
    )


class LabelIn(BaseModel):
    kind: ItemKind
    domain: str | None = Field(default=None, max_length=100)
    difficulty: int = Field(ge=1, le=5)
    quality: int = Field(ge=1, le=5)
    flags: list[Literal["unsafe", "factually_wrong", "unclear"]] = Field(default_factory=list)
