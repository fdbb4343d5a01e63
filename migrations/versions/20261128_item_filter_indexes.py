"""Indexes for the item list's kind, status and domain filters.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 22:36:27.984685
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_items_project_domain_status", ["project_id", "domain", "status", "id"], unique=False
        )
        batch_op.create_index(
            "ix_items_project_kind_status", ["project_id", "kind", "status", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_project_kind_status")
        batch_op.drop_index("ix_items_project_domain_status")
