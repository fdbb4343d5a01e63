"""The domain filter's index also holds kind, so kind + domain (+ status) filters and their
status counts read the index alone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 00:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_items_project_domain_kind_status",
        "items",
        ["project_id", "domain", "kind", "status", "id"],
        unique=False,
    )
    # (project_id, domain, …) is a prefix of the new index.
    op.drop_index("ix_items_project_domain_status", table_name="items")


def downgrade() -> None:
    op.create_index(
        "ix_items_project_domain_status",
        "items",
        ["project_id", "domain", "status", "id"],
        unique=False,
    )
    op.drop_index("ix_items_project_domain_kind_status", table_name="items")
