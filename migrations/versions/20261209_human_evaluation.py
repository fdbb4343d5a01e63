"""Human evaluation: rounds comparing two systems' outputs, their prompts (copied with both
outputs when the round is made), named judges, and judgments.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("a_job_id", sa.Integer(), nullable=True),
        sa.Column("a_side", sa.String(length=16), nullable=False),
        sa.Column("b_job_id", sa.Integer(), nullable=True),
        sa.Column("b_side", sa.String(length=16), nullable=False),
        sa.Column("overlap", sa.Integer(), nullable=False),
        sa.Column("judges", sa.String(length=16), nullable=False),
        sa.Column(
            "prompt_filter",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "a_side IN ('base', 'tuned', 'reference')", name=op.f("ck_eval_rounds_a_side")
        ),
        sa.CheckConstraint(
            "b_side IN ('base', 'tuned', 'reference')", name=op.f("ck_eval_rounds_b_side")
        ),
        sa.CheckConstraint("judges IN ('reviewers', 'named')", name=op.f("ck_eval_rounds_judges")),
        sa.CheckConstraint("mode IN ('pairwise', 'rating')", name=op.f("ck_eval_rounds_mode")),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_eval_rounds_status")),
        sa.CheckConstraint("overlap >= 1", name=op.f("ck_eval_rounds_overlap")),
        sa.ForeignKeyConstraint(
            ["a_job_id"], ["jobs.id"], name=op.f("fk_eval_rounds_a_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["b_job_id"], ["jobs.id"], name=op.f("fk_eval_rounds_b_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_eval_rounds_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_eval_rounds_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_rounds")),
    )
    with op.batch_alter_table("eval_rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_eval_rounds_a_job_id"), ["a_job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_eval_rounds_b_job_id"), ["b_job_id"], unique=False)
        batch_op.create_index("ix_eval_rounds_project", ["project_id", "id"], unique=False)

    op.create_table(
        "eval_round_judges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["eval_rounds.id"],
            name=op.f("fk_eval_round_judges_round_id_eval_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_eval_round_judges_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_round_judges")),
        sa.UniqueConstraint("round_id", "user_id", name="uq_eval_round_judges_round"),
    )
    with op.batch_alter_table("eval_round_judges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_eval_round_judges_user_id"), ["user_id"], unique=False)

    op.create_table(
        "eval_round_prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("domain", sa.String(length=100), nullable=True),
        sa.Column(
            "messages", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "constraints", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("output_a", sa.Text(), nullable=False),
        sa.Column("output_b", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_eval_round_prompts_item_id_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["eval_rounds.id"],
            name=op.f("fk_eval_round_prompts_round_id_eval_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_round_prompts")),
        sa.UniqueConstraint("round_id", "position", name="uq_eval_round_prompts_round"),
    )
    with op.batch_alter_table("eval_round_prompts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_eval_round_prompts_item_id"), ["item_id"], unique=False
        )

    op.create_table(
        "eval_judgments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("judge_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("rating_a", sa.Integer(), nullable=True),
        sa.Column("rating_b", sa.Integer(), nullable=True),
        sa.Column("correct_a", sa.Boolean(), nullable=True),
        sa.Column("correct_b", sa.Boolean(), nullable=True),
        sa.Column("swapped", sa.Boolean(), nullable=False),
        sa.Column(
            "reasons", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "verdict IN ('a', 'b', 'tie', 'both_bad')", name=op.f("ck_eval_judgments_verdict")
        ),
        sa.CheckConstraint(
            "rating_a IS NULL OR rating_a BETWEEN 1 AND 5", name=op.f("ck_eval_judgments_rating_a")
        ),
        sa.CheckConstraint(
            "rating_b IS NULL OR rating_b BETWEEN 1 AND 5", name=op.f("ck_eval_judgments_rating_b")
        ),
        sa.ForeignKeyConstraint(
            ["judge_id"],
            ["users.id"],
            name=op.f("fk_eval_judgments_judge_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["eval_round_prompts.id"],
            name=op.f("fk_eval_judgments_prompt_id_eval_round_prompts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["eval_rounds.id"],
            name=op.f("fk_eval_judgments_round_id_eval_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_judgments")),
        sa.UniqueConstraint("prompt_id", "judge_id", name="uq_eval_judgments_prompt_judge"),
    )
    with op.batch_alter_table("eval_judgments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_eval_judgments_round_judge", ["round_id", "judge_id"], unique=False
        )


def downgrade() -> None:
    # Dropping a table drops its indexes.
    for table in ("eval_judgments", "eval_round_prompts", "eval_round_judges", "eval_rounds"):
        op.drop_table(table)
