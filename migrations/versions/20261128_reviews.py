"""Reviews: decisions per item version, the review queue lease and priorities.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 21:18:30.334649
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("item_version", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('approve', 'reject', 'request_changes')", name=op.f("ck_reviews_decision")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_reviews_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_reviews_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_reviews_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["users.id"],
            name=op.f("fk_reviews_reviewer_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint(
            "item_id", "item_version", "reviewer_id", name="uq_reviews_item_version_reviewer"
        ),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reviews_item_id"), ["item_id"], unique=False)
        batch_op.create_index("ix_reviews_reviewer", ["reviewer_id", "created_at"], unique=False)

    # env.py turns SQLite's foreign keys off while migrating, so this batch rebuild of
    # items cannot cascade into revisions, terms or keys.
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("review_priority", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("priority_reviewer_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lease_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reopen_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reopen_link", sa.String(length=500), nullable=True))
        batch_op.create_index(
            "ix_items_review_queue",
            ["project_id", "status", "review_priority", "submitted_at"],
            unique=False,
        )
        for column in ("lease_by", "priority_reviewer_id"):
            batch_op.create_foreign_key(
                batch_op.f(f"fk_items_{column}_users"),
                "users",
                [column],
                ["id"],
                ondelete="SET NULL",
            )


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_items_priority_reviewer_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_items_lease_by_users"), type_="foreignkey")
        batch_op.drop_index("ix_items_review_queue")
        batch_op.drop_column("reopen_link")
        batch_op.drop_column("reopen_reason")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_by")
        batch_op.drop_column("priority_reviewer_id")
        batch_op.drop_column("review_priority")
        batch_op.drop_column("submitted_at")

    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_reviews_reviewer")
        batch_op.drop_index(batch_op.f("ix_reviews_item_id"))

    op.drop_table("reviews")
