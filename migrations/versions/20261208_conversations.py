"""Conversations: a fourth item kind, a system prompt on every kind, and the turns.

- ``items.system``: the system prompt, empty for every existing item.
- ``items.turns``: a conversation's turns as a JSON list, empty for the other kinds.
- ``ck_items_kind`` admits ``conversation``.

Content hashes do not move: the canonical JSON holds a later field only when it differs from
its default (``app.core.kinds.hashed_fields``), and both new fields start at their defaults.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
KINDS = ("task", "constraint", "example", "conversation")


def _kinds(kinds: tuple[str, ...]) -> str:
    return "kind IN ({})".format(", ".join(f"'{kind}'" for kind in kinds))


def upgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("system", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("turns", JSON_DOC, server_default="[]", nullable=False))
        batch_op.drop_constraint(op.f("ck_items_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_items_kind"), _kinds(KINDS))


def downgrade() -> None:
    op.execute("DELETE FROM items WHERE kind = 'conversation'")
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_constraint(op.f("ck_items_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_items_kind"), _kinds(KINDS[:-1]))
        batch_op.drop_column("turns")
        batch_op.drop_column("system")
