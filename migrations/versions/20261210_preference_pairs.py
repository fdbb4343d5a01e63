"""Preference pairs: a fifth item kind with a rejected response, two origins for pairs made
from people's judgments, and jobs that continue from a finished job's model.

- ``items.rejected``: a pair's worse response, empty for every existing item (content hashes
  do not move: the canonical JSON holds a later field only when it is set).
- ``ck_items_kind`` admits ``preference``; ``ck_items_origin`` admits ``judged`` (from an
  evaluation round's agreed verdict) and ``improved`` (a person's better answer to a model
  output).
- ``jobs.start_job_id``: the finished job whose tuned model a job starts from (SFT, then DPO).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

KINDS = ("task", "constraint", "example", "conversation", "preference")
ORIGINS = ("written", "imported", "demo", "judged", "improved")


def _within(column: str, values: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{value}'" for value in values))


def upgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("rejected", sa.Text(), server_default="", nullable=False))
        batch_op.drop_constraint(op.f("ck_items_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_items_kind"), _within("kind", KINDS))
        batch_op.drop_constraint(op.f("ck_items_origin"), type_="check")
        batch_op.create_check_constraint(op.f("ck_items_origin"), _within("origin", ORIGINS))
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("start_job_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_jobs_start_job_id_jobs"), "jobs", ["start_job_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    op.execute("DELETE FROM items WHERE kind = 'preference'")
    op.execute("UPDATE items SET origin = 'written' WHERE origin IN ('judged', 'improved')")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_constraint(op.f("fk_jobs_start_job_id_jobs"), type_="foreignkey")
        batch_op.drop_column("start_job_id")
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_constraint(op.f("ck_items_origin"), type_="check")
        batch_op.create_check_constraint(op.f("ck_items_origin"), _within("origin", ORIGINS[:3]))
        batch_op.drop_constraint(op.f("ck_items_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_items_kind"), _within("kind", KINDS[:4]))
        batch_op.drop_column("rejected")
