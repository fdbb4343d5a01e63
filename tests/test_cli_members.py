"""`studio projects members …` as a real process against a fresh database."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import migrate
from app.db import make_engine
from app.models import AuditEvent, ProjectMember, User
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.dbs import fresh_database
from tests.factories import make_user
from tests.test_cli import studio


@pytest.fixture
def setup(backend, tmp_path):
    """A migrated database with an admin, two people and a project called Poems."""
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            with Session(engine, expire_on_commit=False) as session:
                admin = make_user(session, role="admin", email="root@example.org")
                make_user(session, role="reviewer", email="rev@example.org")
                make_user(session, role="annotator", email="ann@example.org")
                project = projects.create_project(
                    session=session, data=ProjectInput(name="Poems"), actor=admin
                )
                session.commit()
            env = {
                **os.environ,
                "STUDIO_DATABASE_URL": url,
                "STUDIO_VAR_DIR": str(tmp_path / "var"),
            }
            yield env, engine, project.id
        finally:
            engine.dispose()


def _rows(engine, project_id):
    with Session(engine) as session:
        return {
            (m.user_id, m.role, m.quota)
            for m in session.scalars(
                select(ProjectMember).where(ProjectMember.project_id == project_id)
            )
        }


def test_add_set_list_remove(setup):
    env, engine, project_id = setup
    added = studio(env, "projects", "members", "add", "Poems", "rev@example.org", "--quota", "5")
    assert added.returncode == 0, added.stderr
    assert "added rev@example.org to Poems as reviewer" in added.stdout  # matches global role
    changed = studio(
        env, "projects", "members", "set", str(project_id), "rev@example.org",
        "--role", "manager", "--no-quota", "--as", "rev@example.org",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "manager, quota none" in changed.stdout
    listing = studio(env, "projects", "members", "list", "Poems")
    assert listing.returncode == 0, listing.stderr
    assert "rev@example.org\tmanager\t0/-\tsubmitted 0, labeled 0" in listing.stdout
    removed = studio(env, "projects", "members", "remove", "Poems", "rev@example.org")
    assert removed.returncode == 0, removed.stderr
    assert _rows(engine, project_id) == set()
    with Session(engine) as session:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.like("member.%"), AuditEvent.entity_id == str(project_id))
            .order_by(AuditEvent.id)
        ).all()
    assert [(e.action, e.actor_label) for e in events] == [
        ("member.added", "root@example.org"),
        ("member.changed", "rev@example.org"),
        ("member.removed", "root@example.org"),
    ]


def test_errors_exit_non_zero_with_a_message(setup):
    env, engine, project_id = setup
    assert studio(env, "projects", "members", "add", "Poems", "ann@example.org").returncode == 0
    again = studio(env, "projects", "members", "add", "Poems", "ann@example.org")
    assert again.returncode == 1
    assert "already a member" in again.stderr
    nobody = studio(env, "projects", "members", "remove", "Nope", "ann@example.org")
    assert nobody.returncode == 1 and "No project Nope" in nobody.stderr
    nothing = studio(env, "projects", "members", "set", "Poems", "ann@example.org")
    assert nothing.returncode == 2 and "Nothing to change" in nothing.stderr
    stranger = studio(env, "projects", "members", "set", "Poems", "rev@example.org", "--quota", "3")
    assert stranger.returncode == 1 and "not a member" in stranger.stderr
    assert _rows(engine, project_id) == {(_id(engine, "ann@example.org"), "annotator", None)}


def _id(engine, email):
    with Session(engine) as session:
        return session.scalar(select(User.id).where(User.email == email))
