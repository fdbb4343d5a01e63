"""Imports, and frozen dataset versions pinned to item revisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class ImportJob(Base):
    """One uploaded file: its detected shape, the chosen options, and how the import went."""

    __tablename__ = "import_jobs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('uploaded', 'queued', 'running', 'done', 'failed', 'cancelled')",
            name="state",
        ),
        Index("ix_import_jobs_project", "project_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(String(1000))
    file_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    container: Mapped[str] = mapped_column(String(16))
    schema: Mapped[str] = mapped_column(String(32))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The background task that runs (or ran) the import.
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("background_tasks.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(16), default="uploaded")
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    created_items: Mapped[int] = mapped_column(default=0)
    skipped_duplicates: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class DatasetVersion(Base):
    """An immutable snapshot: which item revisions, in which split, under which filter."""

    __tablename__ = "dataset_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    filter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int]
    eval_fraction: Mapped[float]
    manifest_hash: Mapped[str] = mapped_column(String(64))
    train_count: Mapped[int]
    eval_count: Mapped[int]
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    contamination: Mapped[list[Any]] = mapped_column(default=list)
    license: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetVersionItem(Base):
    __tablename__ = "dataset_version_items"
    __table_args__ = (
        CheckConstraint("split IN ('train', 'eval')", name="split"),
        Index("ix_dataset_version_items_split", "version_id", "split", "position"),
    )

    version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="RESTRICT"), primary_key=True
    )
    revision_id: Mapped[int] = mapped_column(ForeignKey("item_revisions.id", ondelete="RESTRICT"))
    revision: Mapped[int]
    split: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int]
