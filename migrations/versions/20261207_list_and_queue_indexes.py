"""Indexes for the item list's first page and the review queue's tiers.

- ``ix_items_project_id (project_id, id)``: the unfiltered list, newest first, reads one index
  range. Without it SQLite listed a project from an index by (project_id, kind, ...) and sorted
  every one of its items in a temporary B-tree for each first page (about 280 ms at 100,000).
- ``ix_items_priority_reviewer``: the queue's first tier, resubmissions to the reviewer who
  asked for changes.
- Every submitted item gets a ``submitted_at``: those submitted as they were created had none,
  and the queue now reads each tier in ``(submitted_at, id)`` order from the review-queue index
  instead of sorting every submitted item by a computed rank on each claim.

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
    op.create_index("ix_items_priority_reviewer", "items", ["priority_reviewer_id"])
    op.execute(
        "UPDATE items SET submitted_at = created_at "
        "WHERE status = 'submitted' AND submitted_at IS NULL"
    )


def downgrade() -> None:
    # The filled-in submission times stay: they are when those items were submitted.
    op.drop_index("ix_items_priority_reviewer", table_name="items")
    op.drop_index("ix_items_project_id", table_name="items")
