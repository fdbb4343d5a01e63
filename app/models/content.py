"""Projects, items and their immutable revisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TimestampMixin


class Project(TimestampMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("approvals_needed IN (1, 2)", name="approvals_needed"),
        CheckConstraint("labeling_overlap >= 1", name="labeling_overlap"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    guidelines: Mapped[str] = mapped_column(Text, default="")
    guideline_version: Mapped[int] = mapped_column(default=1)
    label_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    approvals_needed: Mapped[int] = mapped_column(default=1)
    labeling_overlap: Mapped[int] = mapped_column(default=1)
    blind_mode: Mapped[bool] = mapped_column(default=False)
    # Whether annotators see each other's drafts; otherwise a draft is its author's alone.
    drafts_shared: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Item(TimestampMixin, Base):
    __tablename__ = "items"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('task', 'constraint', 'example', 'conversation', 'preference')", name="kind"
        ),
        CheckConstraint(
            "origin IN ('written', 'imported', 'demo', 'judged', 'improved', 'augmented', "
            "'generated')",
            name="origin",
        ),
        CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'rejected', 'changes_requested')",
            name="status",
        ),
        # The list's first page, newest first, with no filter.
        Index("ix_items_project_id", "project_id", "id"),
        Index("ix_items_project_status", "project_id", "status", "id"),
        Index("ix_items_project_hash", "project_id", "content_hash"),
        # The review queue's tiers, each oldest submission first (app.reviews.service).
        Index("ix_items_review_queue", "project_id", "status", "review_priority", "submitted_at"),
        Index("ix_items_priority_reviewer", "priority_reviewer_id"),
        # The item list's common filters, newest first.
        Index("ix_items_project_kind_status", "project_id", "kind", "status", "id"),
        Index(
            "ix_items_project_domain_kind_status", "project_id", "domain", "kind", "status", "id"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default="draft")
    instruction: Mapped[str] = mapped_column(Text)
    input: Mapped[str] = mapped_column(Text, default="")
    output: Mapped[str] = mapped_column(Text, default="")
    demos: Mapped[list[Any]] = mapped_column(default=list)
    constraints: Mapped[list[Any]] = mapped_column(default=list)
    rules: Mapped[list[Any]] = mapped_column(default=list)
    state_constraints: Mapped[bool] = mapped_column(default=True)
    system: Mapped[str] = mapped_column(Text, default="", server_default="")
    turns: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    rejected: Mapped[str] = mapped_column(Text, default="", server_default="")
    domain: Mapped[str | None] = mapped_column(String(100))
    difficulty: Mapped[int | None]
    language: Mapped[str] = mapped_column(String(16), default="en")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # How the item was made (app.core.provenance): the origin, and its details as JSON.
    origin: Mapped[str] = mapped_column(String(16), default="written", server_default="written")
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # The generation job that drafted the output (whatever the item's origin), and how much
    # of that draft people have changed since, as a word-level edit ratio (0: kept as is).
    drafted_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    draft_edit_ratio: Mapped[float | None] = mapped_column(Float)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    guideline_version: Mapped[int] = mapped_column(default=1)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    # Review queue: when the current round began (set whenever an item becomes submitted),
    # who holds the lease, and who should see the item first (a resubmission goes back to
    # the reviewer who asked for changes).
    submitted_at: Mapped[datetime | None]
    review_priority: Mapped[int] = mapped_column(default=0, server_default="0")
    priority_reviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    lease_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lease_until: Mapped[datetime | None]
    reopen_reason: Mapped[str | None] = mapped_column(Text)
    reopen_link: Mapped[str | None] = mapped_column(String(500))

    __mapper_args__ = {"version_id_col": version}


class Review(Base):
    """One reviewer's decision on one version of an item."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint(
            "item_id", "item_version", "reviewer_id", name="uq_reviews_item_version_reviewer"
        ),
        CheckConstraint("decision IN ('approve', 'reject', 'request_changes')", name="decision"),
        Index("ix_reviews_reviewer", "reviewer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_version: Mapped[int]
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decision: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ItemRevision(Base):
    """An immutable snapshot of an item at one saved version."""

    __tablename__ = "item_revisions"
    __table_args__ = (
        UniqueConstraint("item_id", "version", name="uq_item_revisions_item_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    version: Mapped[int]
    snapshot: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    # Who saved it. A generation job's revision names the person who launched the job (for
    # the self-approval rule they count as its author) and the job itself.
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class GuidelineVersion(Base):
    """Each edit of a project's guidelines is kept; items record the version they follow."""

    __tablename__ = "guideline_versions"
    __table_args__ = (
        UniqueConstraint("project_id", "version", name="uq_guideline_versions_project_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    version: Mapped[int]
    guidelines: Mapped[str] = mapped_column(Text)
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class Label(TimestampMixin, Base):
    """One annotator's labels on one item (for overlap and agreement)."""

    __tablename__ = "labels"
    __table_args__ = (
        UniqueConstraint("item_id", "annotator_id", name="uq_labels_item_annotator"),
        CheckConstraint("difficulty BETWEEN 1 AND 5", name="difficulty"),
        CheckConstraint("quality BETWEEN 1 AND 5", name="quality"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    domain: Mapped[str | None] = mapped_column(String(100))
    difficulty: Mapped[int]
    quality: Mapped[int]
    flags: Mapped[list[Any]] = mapped_column(default=list)
    # When the author was first shown the other annotators' labels: the label is frozen from then.
    revealed_at: Mapped[datetime | None]


class SearchTerm(Base):
    """Inverted index for item search: words, and CJK character bigrams so that a
    two-character Chinese query finds longer words on SQLite and PostgreSQL alike.

    Imports write ~58 rows per item, so the table keeps only its primary key: no foreign key
    (a check per row doubled the cost) and no index by item (another half). An item's rows are
    found from its text (``app.items.indexing``), and ``forget`` deletes them with the item."""

    __tablename__ = "search_terms"

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[int] = mapped_column(primary_key=True)


class NearDupKey(Base):
    """MinHash LSH band keys; items sharing a key are near-duplicate candidates.

    No foreign keys, as for :class:`SearchTerm` (16 rows per item)."""

    __tablename__ = "neardup_keys"
    __table_args__ = (Index("ix_neardup_keys_lookup", "project_id", "band", "key"),)

    item_id: Mapped[int] = mapped_column(primary_key=True)
    band: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int]
    key: Mapped[int] = mapped_column(BigInteger)
