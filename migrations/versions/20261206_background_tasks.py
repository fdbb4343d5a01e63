"""Background tasks: imports and version freezing run as tasks in the database, claimed by
any web process or `studio worker --background`, with leases, progress and checkpoints. An
import records the task that runs it and gains the states ``queued`` and ``cancelled``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
IMPORT_STATES = "state IN ('uploaded', 'queued', 'running', 'done', 'failed', 'cancelled')"
OLD_IMPORT_STATES = "state IN ('uploaded', 'running', 'done', 'failed')"


def upgrade() -> None:
    op.create_table(
        "background_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("checkpoint", JSON, nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'cancelled')",
            name=op.f("ck_background_tasks_state"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_background_tasks_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_background_tasks_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_background_tasks")),
    )
    op.create_index("ix_background_tasks_project", "background_tasks", ["project_id", "id"])
    op.create_index("ix_background_tasks_queue", "background_tasks", ["state", "id"])
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_import_jobs_task_id_background_tasks"),
            "background_tasks",
            ["task_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.drop_constraint(op.f("ck_import_jobs_state"), type_="check")
        batch_op.create_check_constraint("state", IMPORT_STATES)


def downgrade() -> None:
    # Imports that were queued or cancelled read as failed under the old states.
    op.execute("UPDATE import_jobs SET state = 'failed' WHERE state IN ('queued', 'cancelled')")
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_import_jobs_state"), type_="check")
        batch_op.create_check_constraint("state", OLD_IMPORT_STATES)
        batch_op.drop_constraint(
            batch_op.f("fk_import_jobs_task_id_background_tasks"), type_="foreignkey"
        )
        batch_op.drop_column("task_id")
    op.drop_index("ix_background_tasks_queue", table_name="background_tasks")
    op.drop_index("ix_background_tasks_project", table_name="background_tasks")
    op.drop_table("background_tasks")
