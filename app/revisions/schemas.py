"""JSON shapes for an item's history and for restoring an old revision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.db import MAX_INTEGER
from app.models import ItemRevision, User


class RevisionOut(BaseModel):
    version: int = Field(description="The item's version this revision saved.")
    editor_id: int | None = Field(description="Who saved it; null once that account is gone.")
    editor: str | None = Field(description="Their display name.")
    created_at: datetime
    content_hash: str
    snapshot: dict[str, Any] = Field(description="The item as saved: content, metadata and status.")

    @classmethod
    def of(cls, row: ItemRevision, editors: dict[int, User]) -> RevisionOut:
        editor = editors.get(row.editor_id) if row.editor_id is not None else None
        return cls(
            version=row.version,
            editor_id=row.editor_id,
            editor=editor.display_name if editor else None,
            created_at=row.created_at,
            content_hash=row.content_hash,
            snapshot=row.snapshot,
        )


class RestoreIn(BaseModel):
    """Which revision to bring back, over which current version."""

    model_config = ConfigDict(extra="forbid")

    revision: int = Field(ge=1, le=MAX_INTEGER, description="The version to restore.")
    version: int = Field(
        ge=1,
        le=MAX_INTEGER,
        description="The item's current version, as you read it; a stale one answers 409.",
    )
