"""Background tasks as the JSON API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class TaskOut(BaseModel):
    id: int
    kind: str = Field(description="import, freeze, items.bulk, items.augment or pairs.from_round")
    project_id: int | None
    state: str = Field(description="queued, running, done, failed or cancelled")
    phase: str
    done: int
    total: int = Field(description="0 while the total is unknown")
    attempts: int
    worker: str | None = Field(description="host:pid:thread of the process running it")
    cancel_requested: bool
    result: dict[str, Any] = Field(description="What the task made, once done")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    model_config = {"from_attributes": True}
