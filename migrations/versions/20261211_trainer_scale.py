"""The trainer at real model sizes: workers report their device, and results show prompts the
model was tuned on beside the held-out ones.

- ``workers``: each trainer worker as it last asked for work (device, memory per device, free
  memory, bf16 and 4-bit support), so the launch form sets a job's memory estimate against the
  devices that will run it and refuses what none of them can run.
- ``eval_predictions.split``: ``eval`` for held-out prompts (every existing row), ``train`` for
  the sample of training prompts a job also generates for ("seen").

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-11 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("device", sa.String(length=16), nullable=False),
        sa.Column("device_name", sa.String(length=200), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("free_bytes", sa.BigInteger(), nullable=True),
        sa.Column("bf16", sa.Boolean(), nullable=False),
        sa.Column("four_bit", sa.Boolean(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
        sa.UniqueConstraint("name", name=op.f("uq_workers_name")),
    )
    with op.batch_alter_table("eval_predictions") as batch_op:
        batch_op.add_column(
            sa.Column("split", sa.String(length=8), server_default="eval", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("eval_predictions") as batch_op:
        batch_op.drop_column("split")
    op.drop_table("workers")
