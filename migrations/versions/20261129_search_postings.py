"""Imported items are indexed for search by posting lists: one row per term and import batch.

An import wrote ~58 (term, item) rows per item into ``search_terms``; 100,000 items made 5.8
million B-tree insertions, more than the server can do at the import's budget. A posting row
lists the items of one batch that contain a term (~4.5 rows per item). Items saved one at a
time keep using ``search_terms``; search reads the union. ``items.search_listed`` marks the
items whose terms are in lists; an edit moves an item's terms to rows and clears it.

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
        sa.Column(
            "item_ids",
            sa.JSON().with_variant(postgresql.ARRAY(sa.Integer()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("term", "first_id", name=op.f("pk_search_postings")),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_listed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    # The lists of items still listed go back to one row per (term, item), as before.
    if op.get_bind().dialect.name == "postgresql":
        pairs = "SELECT term, unnest(item_ids) AS item_id FROM search_postings"
    else:
        pairs = (
            "SELECT term, value AS item_id FROM search_postings, "
            "json_each(search_postings.item_ids)"
        )
    # "ON CONFLICT" after a WHERE, where SQLite's parser expects it.
    op.execute(
        f"INSERT INTO search_terms (term, item_id) SELECT p.term, p.item_id FROM ({pairs}) AS p "
        "JOIN items ON items.id = p.item_id WHERE items.search_listed ON CONFLICT DO NOTHING"
    )
    op.drop_table("search_postings")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("search_listed")
