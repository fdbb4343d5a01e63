"""The trainer at real model sizes: workers report their device, and results show prompts the
model was tuned on beside the held-out ones.

- ``workers``: each trainer worker as it last asked for work (device, memory per device, free
  memory, bf16 and 4-bit support), so the launch form sets a job's memory estimate against the
  devices that will run it and refuses what none of them can run.
- ``eval_predictions.split``: ``eval`` for held-out prompts (every existing row), ``train`` for
  the sample of training prompts a job also generates for ("seen").
- ``preflights``: checks a worker runs before a job is launched (the data under the chat
  template, one example's loss mask, the device, a few timed steps), queued like jobs and taken
  before them.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-11 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


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
    op.create_table(
        "preflights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("dataset_version_id", sa.Integer(), nullable=False),
        sa.Column("base_model", sa.String(length=500), nullable=False),
        sa.Column("params", JSON_DOC, nullable=False),
        sa.Column("start_job_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("claim_token_id", sa.Integer(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report", JSON_DOC, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')",
            name=op.f("ck_preflights_status"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_preflights_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_preflights_dataset_version_id_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["start_job_id"],
            ["jobs.id"],
            name=op.f("fk_preflights_start_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["claim_token_id"],
            ["api_tokens.id"],
            name=op.f("fk_preflights_claim_token_id_api_tokens"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_preflights_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preflights")),
    )
    with op.batch_alter_table("preflights") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_preflights_dataset_version_id"), ["dataset_version_id"], unique=False
        )
        batch_op.create_index("ix_preflights_queue", ["status", "id"], unique=False)
    with op.batch_alter_table("eval_predictions") as batch_op:
        batch_op.add_column(
            sa.Column("split", sa.String(length=8), server_default="eval", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("eval_predictions") as batch_op:
        batch_op.drop_column("split")
    op.drop_table("preflights")
    op.drop_table("workers")
