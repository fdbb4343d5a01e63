"""The schema comes from migrations: they match the models, and go down and up again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import migrate
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import AuditEvent, Item, SearchPosting, SearchTerm
from tests.dbs import fresh_database
from tests.factories import make_user
from tests.review_factories import make_project


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


def test_going_down_turns_posting_lists_back_into_term_rows(backend, tmp_path):
    """Before 0009 every (term, item) had a row: imported items stay searchable after a
    downgrade; the stale ids of an item edited since (not listed) are not brought back."""
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = sa.create_engine(url)
        with Session(engine) as session:
            admin = make_user(session, role="admin")
            project = make_project(session, admin, name="Down")
            listed, edited = (
                items.create_item(
                    session=session,
                    project=project,
                    draft=ItemDraft(kind="task", instruction=text, output="ok"),
                    author=admin,
                )
                for text in ("Imported one", "Edited one")
            )
            session.execute(sa.delete(SearchTerm).where(SearchTerm.item_id == listed.id))
            session.execute(sa.update(Item).where(Item.id == listed.id).values(search_listed=True))
            session.add(SearchPosting(term="imported", first_id=listed.id, item_ids=[listed.id]))
            session.add(
                SearchPosting(term="one", first_id=listed.id, item_ids=[listed.id, edited.id])
            )
            session.commit()
            ids = listed.id, edited.id
        engine.dispose()
        migrate.downgrade(url, "0008")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT term, item_id FROM search_terms")).all()
        engine.dispose()
        assert sorted(rows) == sorted(
            [
                ("imported", ids[0]),
                ("one", ids[0]),
                ("edited", ids[1]),
                ("one", ids[1]),
                ("ok", ids[1]),
            ]
        )
        assert "search_postings" not in sa.inspect(engine).get_table_names()
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
