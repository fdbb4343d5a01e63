"""Security hardening: a job remembers the worker token that claimed it, a failed sign-in
its client address, and a label when its author was shown the others' labels.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_jobs_claim_token_id_api_tokens",
            "api_tokens",
            ["claim_token_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_login_failures_address_at", ["address", "at"], unique=False)
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revealed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.drop_column("revealed_at")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_address_at")
        batch_op.drop_column("address")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_jobs_claim_token_id_api_tokens", type_="foreignkey")
        batch_op.drop_column("claim_token_id")
