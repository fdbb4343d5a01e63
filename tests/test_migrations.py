"""The schema comes from migrations: they match the models, and go down and up again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from app import migrate
from app.models import AuditEvent
from tests.dbs import fresh_database


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
