"""Generation jobs: the model drafts outputs, augments items and proposes new instructions.

- ``jobs.kind``: 'finetune' (every existing job) or 'generate'; a generation job has no dataset
  version (``dataset_version_id`` becomes nullable), its task and settings in ``generation``,
  and a ``priority`` (a quick generation someone waits for is claimed first).
- ``generation_inputs``: the items a generation job reads, each at the version it read, and
  what became of it.
- ``item_revisions.job_id``: the generation job that wrote a revision.
- ``items.drafted_job_id`` and ``items.draft_edit_ratio``: an output the model drafted, and how
  much people changed it since.
- ``items.origin`` gains 'augmented' and 'generated'.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-12 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ORIGINS_BEFORE = "'written', 'imported', 'demo', 'judged', 'improved'"
ORIGINS = ORIGINS_BEFORE + ", 'augmented', 'generated'"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="finetune", nullable=False)
        )
        batch_op.add_column(sa.Column("generation", JSON_DOC, nullable=True))
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
        batch_op.alter_column("dataset_version_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint(op.f("ck_jobs_kind"), "kind IN ('finetune', 'generate')")
    op.create_table(
        "generation_inputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("item_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("result_item_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'done', 'skipped')", name=op.f("ck_generation_inputs_state")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_generation_inputs_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_generation_inputs_item_id_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["result_item_id"],
            ["items.id"],
            name=op.f("fk_generation_inputs_result_item_id_items"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_inputs")),
    )
    with op.batch_alter_table("generation_inputs") as batch_op:
        batch_op.create_index(
            "ix_generation_inputs_job_state", ["job_id", "state", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_generation_inputs_item_id"), ["item_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_generation_inputs_result_item_id"), ["result_item_id"], unique=False
        )
    with op.batch_alter_table("item_revisions") as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_item_revisions_job_id_jobs"),
            "jobs",
            ["job_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("drafted_job_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("draft_edit_ratio", sa.Float(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_items_drafted_job_id_jobs"),
            "jobs",
            ["drafted_job_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            batch_op.f("ix_items_drafted_job_id"), ["drafted_job_id"], unique=False
        )
        batch_op.drop_constraint(op.f("ck_items_origin"), type_="check")
        batch_op.create_check_constraint(op.f("ck_items_origin"), f"origin IN ({ORIGINS})")


def downgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_constraint(op.f("ck_items_origin"), type_="check")
        batch_op.create_check_constraint(op.f("ck_items_origin"), f"origin IN ({ORIGINS_BEFORE})")
        batch_op.drop_index(batch_op.f("ix_items_drafted_job_id"))
        batch_op.drop_constraint("fk_items_drafted_job_id_jobs", type_="foreignkey")
        batch_op.drop_column("draft_edit_ratio")
        batch_op.drop_column("drafted_job_id")
    with op.batch_alter_table("item_revisions") as batch_op:
        batch_op.drop_constraint("fk_item_revisions_job_id_jobs", type_="foreignkey")
        batch_op.drop_column("job_id")
    op.drop_table("generation_inputs")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_constraint(op.f("ck_jobs_kind"), type_="check")
        batch_op.alter_column("dataset_version_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("priority")
        batch_op.drop_column("generation")
        batch_op.drop_column("kind")
