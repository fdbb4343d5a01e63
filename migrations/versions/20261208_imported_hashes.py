"""Imported items hash their content with its language, as every save does.

Imports hashed a row before deciding its language, so an imported row of Chinese text (marked
``zh``) kept the hash of the same content marked ``en``: its ``content_hash`` was not the hash
of what it holds, and the same words written in the editor were not found as a duplicate of it.
This rehashes every imported item whose stored hash differs from its content's, and the
revision that recorded the import (the one holding the same wrong hash).

The hash is ``app.core.kinds.content_hash``, whose definition never changes (existing hashes
must not move), so this migration may use it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.core.kinds import ItemContent, content_hash

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
JSON_FIELDS = {"demos", "constraints", "rules", "turns"}
# The content columns at this revision (later ones, such as ``rejected``, do not exist yet; a
# field left out takes its default, which leaves the hash as it was).
CONTENT_FIELDS = (
    "kind",
    "instruction",
    "input",
    "output",
    "demos",
    "constraints",
    "rules",
    "state_constraints",
    "language",
    "system",
    "turns",
)
BATCH = 5000


def upgrade() -> None:
    items = sa.table(
        "items",
        sa.column("id", sa.Integer),
        sa.column("origin", sa.String),
        sa.column("content_hash", sa.String),
        *(sa.column(name, JSON_DOC if name in JSON_FIELDS else None) for name in CONTENT_FIELDS),
    )
    revisions = sa.table(
        "item_revisions", sa.column("item_id", sa.Integer), sa.column("content_hash", sa.String)
    )
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(items)
            .where(items.c.origin == "imported", items.c.language != "en", items.c.id > after)
            .order_by(items.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        changed = []
        for row in rows:
            values = {name: getattr(row, name) for name in CONTENT_FIELDS}
            digest = content_hash(ItemContent.from_row(values))
            if digest != row.content_hash:
                changed.append({"target": row.id, "old": row.content_hash, "new": digest})
        if not changed:
            continue
        connection.execute(
            sa.update(items)
            .where(items.c.id == sa.bindparam("target"))
            .values(content_hash=sa.bindparam("new")),
            changed,
        )
        connection.execute(
            sa.update(revisions)
            .where(
                revisions.c.item_id == sa.bindparam("target"),
                revisions.c.content_hash == sa.bindparam("old"),
            )
            .values(content_hash=sa.bindparam("new")),
            changed,
        )


def downgrade() -> None:
    # The right hashes stay: the wrong ones cannot be told from content alone, and nothing
    # below this revision needs them.
    pass
