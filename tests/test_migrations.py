"""The schema comes from migrations: they match the models, and go down and up again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import migrate
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import AuditEvent, Item
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.dbs import fresh_database
from tests.factories import make_user


def test_models_and_migrations_agree(db_url):
    migrate.check(db_url)  # raises when autogenerate would find a difference


def test_upgrade_downgrade_upgrade(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = sa.create_engine(url)
        assert "audit_events" in sa.inspect(engine).get_table_names()
        migrate.downgrade(url, "base")
        engine.dispose()
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(url)
        migrate.check(url)
        engine.dispose()
        assert "items" in sa.inspect(engine).get_table_names()
        engine.dispose()


class TestAuditIsAppendOnly:
    def _event(self, db_session):
        event = AuditEvent(actor_label="system", action="test.event", entity_type="test")
        db_session.add(event)
        db_session.flush()
        return event

    def test_update_is_refused_by_the_database(self, db_session):
        event = self._event(db_session)
        with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
            db_session.execute(
                sa.text("UPDATE audit_events SET action = 'tampered' WHERE id = :id"),
                {"id": event.id},
            )
        assert (
            db_session.scalar(sa.select(AuditEvent.action).where(AuditEvent.id == event.id))
            == "test.event"
        )

    def test_delete_is_refused_by_the_database(self, db_session):
        event = self._event(db_session)
        with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
            db_session.execute(sa.text("DELETE FROM audit_events WHERE id = :id"), {"id": event.id})
        assert db_session.get(AuditEvent, event.id) is not None


def test_upgrading_to_membership_keeps_everyone_in(backend, tmp_path):
    """Before projects had members everyone saw every project: after the upgrade each user
    is a member of each project in the matching role, and drafts stay shared."""
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url, "0009")
        engine = sa.create_engine(url)
        people = {"ann@x.org": "annotator", "rev@x.org": "reviewer", "adm@x.org": "admin"}
        with engine.begin() as connection:
            for email, role in people.items():
                connection.execute(
                    sa.text(
                        "INSERT INTO users (email, display_name, password_hash, role, is_active,"
                        " language, version) VALUES (:email, :email, 'x', :role, :yes, 'en', 1)"
                    ),
                    {"email": email, "role": role, "yes": True},
                )
            for name in ("First", "Second"):
                connection.execute(
                    sa.text(
                        "INSERT INTO projects (name, description, guidelines, guideline_version,"
                        " label_schema, languages, approvals_needed, labeling_overlap,"
                        " blind_mode, version) VALUES (:name, '', '', 1, '{}', '[]', 1, 1,"
                        " :no, 1)"
                    ),
                    {"name": name, "no": False},
                )
        migrate.upgrade(url)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT projects.name, users.email, project_members.role"
                    " FROM project_members"
                    " JOIN users ON users.id = project_members.user_id"
                    " JOIN projects ON projects.id = project_members.project_id"
                )
            ).all()
            shared = connection.execute(sa.text("SELECT drafts_shared FROM projects")).scalars()
            assert all(shared)
        engine.dispose()
        expected_roles = {"annotator": "annotator", "reviewer": "reviewer", "admin": "manager"}
        assert sorted(rows) == sorted(
            (project, email, expected_roles[role])
            for project in ("First", "Second")
            for email, role in people.items()
        )


def test_upgrading_gives_every_submitted_item_its_submission_time(backend, tmp_path):
    """Items submitted as they were created had no submitted_at; the review queue now reads
    its tiers in submitted_at order, so the upgrade to 0012 fills it in with the creation
    time. Written at head, then taken back below 0012 (which only adds indexes) and up."""
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = sa.create_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            admin = make_user(session, role="admin")
            project = projects.create_project(
                session=session, data=ProjectInput(name="Queue"), actor=admin
            )
            made = {}
            for text, submit in (("Sent at once.", True), ("Kept as a draft.", False)):
                draft = ItemDraft(kind="task", instruction=text, output="An answer.")
                made[submit] = items.create_item(
                    session=session, project=project, draft=draft, author=admin, submit=submit
                ).id
            session.execute(sa.update(Item).values(submitted_at=None))
            session.commit()
        migrate.downgrade(url, "0011")
        migrate.upgrade(url)
        with engine.connect() as connection:
            filled = dict(
                connection.execute(sa.select(Item.id, Item.submitted_at == Item.created_at)).all()
            )
            untouched = connection.scalar(
                sa.select(Item.submitted_at).where(Item.id == made[False])
            )
        engine.dispose()
        assert filled[made[True]] and untouched is None
