"""Project membership and assignments: who belongs to each project in which role, and the
work handed out to them. On upgrade every user becomes a member of every project with the
project role of their global role, and existing projects keep showing drafts to every
annotator, so nobody loses access.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "role IN ('annotator', 'reviewer', 'manager')", name=op.f("ck_project_members_role")
        ),
        sa.CheckConstraint("quota IS NULL OR quota >= 1", name=op.f("ck_project_members_quota")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_members_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_project_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_members")),
        sa.UniqueConstraint("project_id", "user_id", name="uq_project_members_project_user"),
    )
    op.create_index(
        "ix_project_members_user", "project_members", ["user_id", "project_id"], unique=False
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=16), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("assigned_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "task IN ('write', 'label', 'fix', 'review')", name=op.f("ck_assignments_task")
        ),
        sa.ForeignKeyConstraint(
            ["assigned_by"],
            ["users.id"],
            name=op.f("fk_assignments_assigned_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_assignments_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_assignments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_assignments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("item_id", "task", "user_id", name="uq_assignments_item_task_user"),
    )
    op.create_index(
        "ix_assignments_user_project",
        "assignments",
        ["user_id", "project_id", "due_date"],
        unique=False,
    )
    op.create_index(
        "ix_assignments_project_task",
        "assignments",
        ["project_id", "task", "item_id"],
        unique=False,
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("drafts_shared", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    _keep_everyone_in()


def _keep_everyone_in() -> None:
    """Every user joins every project in the role matching their global one; drafts stay
    visible to all, as they were."""
    op.execute(
        """
        INSERT INTO project_members (project_id, user_id, role, quota, created_at, version)
        SELECT projects.id, users.id,
               CASE users.role WHEN 'admin' THEN 'manager' ELSE users.role END,
               NULL, CURRENT_TIMESTAMP, 1
        FROM projects CROSS JOIN users
        """
    )
    op.execute(sa.text("UPDATE projects SET drafts_shared = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("drafts_shared")
    op.drop_index("ix_assignments_project_task", table_name="assignments")
    op.drop_index("ix_assignments_user_project", table_name="assignments")
    op.drop_table("assignments")
    op.drop_index("ix_project_members_user", table_name="project_members")
    op.drop_table("project_members")
