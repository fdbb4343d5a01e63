"""Imported items are indexed for search by posting lists: one row per term and import batch.

An import wrote ~58 (term, item) rows per item into ``search_terms``; 100,000 items made 5.8
million B-tree insertions, more than the server can do at the import's budget. A posting row
lists the items of one batch that contain a term (~4 rows per item). Items saved one at a time
keep using ``search_terms``; search reads the union.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_postings",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("first_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column(
            "item_ids",
            sa.JSON().with_variant(postgresql.ARRAY(sa.Integer()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("term", "first_id", name=op.f("pk_search_postings")),
    )


def downgrade() -> None:
    # The lists go back to one row per (term, item), as they were before.
    if op.get_bind().dialect.name == "postgresql":
        unlisted = "SELECT term, unnest(item_ids) FROM search_postings"
    else:
        unlisted = "SELECT term, value FROM search_postings, json_each(search_postings.item_ids)"
    # "WHERE true" tells SQLite's parser that ON CONFLICT belongs to the INSERT.
    op.execute(
        f"INSERT INTO search_terms (term, item_id) {unlisted} WHERE true ON CONFLICT DO NOTHING"
    )
    op.drop_table("search_postings")
