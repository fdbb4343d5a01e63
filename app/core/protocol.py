"""Schemas shared by the app and trainer workers (the worker protocol's payloads).

The dataset payloads give a worker everything it needs to train on a version: the
manifest (to check what it trains on) and each split's items as ItemContent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.core.kinds import ItemContent

Split = Literal["train", "eval"]


class DatasetManifest(BaseModel):
    version_id: int
    name: str
    project_id: int
    manifest_hash: str = Field(description="SHA-256 of the sorted canonical item lines.")
    seed: int
    eval_fraction: float
    train_count: int
    eval_count: int


class DatasetItem(BaseModel):
    item_id: int
    revision: int
    split: Split
    content: ItemContent
    domain: str | None = None
    tags: list[str] = Field(default_factory=list)


class DatasetSplitPage(BaseModel):
    version_id: int
    split: Split
    items: list[DatasetItem]
    next_cursor: int | None = Field(default=None, description="Pass back as ?after= to continue.")
