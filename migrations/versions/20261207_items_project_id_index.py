"""The item list's unfiltered page, newest first, reads one index range: ``(project_id, id)``.

Without it SQLite listed a project from an index by (project_id, kind, ...) and sorted every one
of its items in a temporary B-tree for each first page (about 280 ms at 100,000 items).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_items_project_id", "items", ["project_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_items_project_id", table_name="items")
