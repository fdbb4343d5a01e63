"""The search-term and near-duplicate-key tables drop their foreign keys, and search terms
their index by item.

They are derived indexes written in bulk: an import writes ~58 terms and 16 keys per item. A
foreign-key check per row (an index probe into items, and projects) more than doubled the
server's time for them, and the second B-tree on search terms cost as much as the first. An
item's terms are now found from its text; ``app.items.indexing.forget`` removes an item's rows
where the cascade used to.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 03:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("search_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_search_terms_item_id")
        batch_op.drop_constraint("fk_search_terms_item_id_items", type_="foreignkey")
    with op.batch_alter_table("neardup_keys", schema=None) as batch_op:
        batch_op.drop_constraint("fk_neardup_keys_item_id_items", type_="foreignkey")
        batch_op.drop_constraint("fk_neardup_keys_project_id_projects", type_="foreignkey")


def downgrade() -> None:
    # Rows of items deleted since would break the constraints.
    op.execute("DELETE FROM search_terms WHERE item_id NOT IN (SELECT id FROM items)")
    op.execute("DELETE FROM neardup_keys WHERE item_id NOT IN (SELECT id FROM items)")
    with op.batch_alter_table("neardup_keys", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_neardup_keys_project_id_projects",
            "projects",
            ["project_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            "fk_neardup_keys_item_id_items", "items", ["item_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("search_terms", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_search_terms_item_id_items", "items", ["item_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_search_terms_item_id", ["item_id"], unique=False)
