"""Provenance: every item records how it was made.

``items.origin`` (written, imported or demo) and ``items.provenance`` (the details as JSON)
replace ``items.source``, whose values move into them: ``import:<id>:<file>`` becomes an
imported item with that import and file (the line was never recorded), ``demo:<key>`` a demo
item with that key, and no source an item written in the editor or through the API.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BATCH = 5000


def _from_source(source: str) -> tuple[str, dict] | None:
    kind, _, rest = source.partition(":")
    if kind == "demo":
        return "demo", {"key": rest}
    if kind == "import":
        number, _, file = rest.partition(":")
        if number.isdigit():
            return "imported", {"import_id": int(number), "file": file}
    return None


def _to_source(origin: str, details: dict) -> str | None:
    if origin == "demo":
        return f"demo:{details.get('key', '')}"[:200]
    if origin == "imported":
        return f"import:{details.get('import_id', 0)}:{details.get('file', '')}"[:200]
    return None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=16), server_default="written", nullable=False)
        )
        batch_op.add_column(sa.Column("provenance", JSON_DOC, server_default="{}", nullable=False))
    items = sa.table(
        "items",
        sa.column("id", sa.Integer),
        sa.column("source", sa.String),
        sa.column("origin", sa.String),
        sa.column("provenance", JSON_DOC),
    )
    connection = op.get_bind()
    update = (
        sa.update(items)
        .where(items.c.id == sa.bindparam("item_id"))
        .values(origin=sa.bindparam("new_origin"), provenance=sa.bindparam("details"))
    )
    after = 0
    while True:
        rows = connection.execute(
            sa.select(items.c.id, items.c.source)
            .where(items.c.source.is_not(None), items.c.id > after)
            .order_by(items.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        values = [
            {"item_id": row.id, "new_origin": found[0], "details": found[1]}
            for row in rows
            if (found := _from_source(row.source)) is not None
        ]
        if values:
            connection.execute(update, values)
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_column("source")
        batch_op.create_check_constraint(
            op.f("ck_items_origin"), "origin IN ('written', 'imported', 'demo')"
        )


def downgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=200), nullable=True))
    items = sa.table(
        "items",
        sa.column("id", sa.Integer),
        sa.column("source", sa.String),
        sa.column("origin", sa.String),
        sa.column("provenance", JSON_DOC),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(items.c.id, items.c.origin, items.c.provenance).where(items.c.origin != "written")
    ).all()
    values = [
        {"item_id": row.id, "old_source": _to_source(row.origin, _loaded(row.provenance))}
        for row in rows
    ]
    if values:
        connection.execute(
            sa.update(items)
            .where(items.c.id == sa.bindparam("item_id"))
            .values(source=sa.bindparam("old_source")),
            values,
        )
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_constraint(op.f("ck_items_origin"), type_="check")
        batch_op.drop_column("provenance")
        batch_op.drop_column("origin")


def _loaded(value) -> dict:
    return json.loads(value) if isinstance(value, str) else (value or {})
