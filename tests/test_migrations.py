"""The schema comes from migrations: they match the models, and go down and up again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import migrate
from app.core import manifest
from app.core.kinds import ItemContent, content_hash
from app.core.provenance import Provenance
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import AuditEvent, DatasetVersion, DatasetVersionItem, Item, ItemRevision
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.dbs import fresh_database
from tests.factories import make_user
from tests.job_factories import project_version


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


# What the items of tests.dataset_factories.DRAFTS and their version hashed before the
# conversation fields existed (computed then, written here by hand).
PINNED_CONTENT_HASHES = [
    (
        "Describe the colour blue without commas.",
        "c5676fa1a86c03a427454d8c56155ce873633051fc6d5d4dab5561440f741bea",
    ),
    (
        "Describe the colour green without commas.",
        "3c9b9b607cf98b283db9b4ce32b389015679283daadaf72fda97aa41d89bdf33",
    ),
    (
        "Describe the colour red without commas.",
        "a3290be05c44675933e135daf5f70ee7c98f4028256a2cebc2f25493f4b29d15",
    ),
    (
        "Describe the colour yellow without commas.",
        "3d52124f0a1673d14608625b9f77c11e7d72b5ee472a99707a78b200c2437cf8",
    ),
    ("Give the antonym.", "54a0e56e319f9b23c5dbc55fa8efaef1d2665028930c8111d4f6fe5d00f63575"),
    ("Give the antonym.", "dd775f9c9c817bbf1baea656940269808e1dbcf15f3d0e0e84d4d13101e70566"),
    ("Give the antonym.", "f1ccf9131c06bb16d30ba58a4b3afb6d9e1e2086db650872ed1738fffbfac3f1"),
    ("Give the antonym.", "fc6ef9f0fb7db80101031f0304101a8b2d81dbad3b9f00d0ad97574b5d5f6d22"),
    (
        "Translate sentence 0 into French.",
        "d9406746de384b0564f09bdb51f467ba9d31f67c534d1315129984e538914b11",
    ),
    (
        "Translate sentence 1 into French.",
        "2bc77dbcfed33f58bda228d6134fdade34927f063c3da8956ad9e7e2a8e8c5b8",
    ),
    (
        "Translate sentence 2 into French.",
        "c721eb7c554374d6f518ba4e9bada68104a355600644004088afe244269fc1d1",
    ),
    (
        "Translate sentence 3 into French.",
        "732bc7269385f1f28d7d27d539c4fd3c81bf182ba8e61bab430aeb052d6e09c1",
    ),
    (
        "Translate sentence 4 into French.",
        "e0d250b7b2b6a66689660c5cd9b98110222ce0521bef690814011fad905f1928",
    ),
    (
        "Translate sentence 5 into French.",
        "df1feff94755cba522ff44c34fe3a888fbeac573dbb8c342bfcd91f430acafb0",
    ),
    (
        "Translate sentence 6 into French.",
        "5137add4b9706c7502df61b0f6b45e4af0b91521ce0720da2c5abb23e73d2694",
    ),
    (
        "Translate sentence 7 into French.",
        "ddc7b5dc2491bdcda8cead5b4d404f1b78f974f4a2d2a940ab1bb5664019348f",
    ),
]
PINNED_MANIFEST_HASH = "2adaa2e3401fcdea146d782da5240205a20f31f9880d5d3357b0e1d7f82fe9c3"


def test_conversations_migration_keeps_content_and_manifest_hashes(backend, tmp_path):
    """The system prompt and turns enter the canonical JSON and the manifest only when set:
    items and versions written before 0013 hash as they did, read back after the upgrade."""
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = sa.create_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            _project, _admin, version = project_version(session, name="Pinned")
            session.commit()
        migrate.downgrade(url, "0012")
        migrate.upgrade(url)
        with Session(engine) as session:
            stored = []
            for item in session.scalars(sa.select(Item)):
                assert content_hash(ItemContent.from_row(item)) == item.content_hash
                stored.append((item.instruction, item.content_hash))
            rows = session.execute(
                sa.select(DatasetVersionItem.split, ItemRevision.snapshot)
                .join(ItemRevision, ItemRevision.id == DatasetVersionItem.revision_id)
                .where(DatasetVersionItem.version_id == version.id)
            ).all()
            lines = [manifest.manifest_line(split, snapshot) for split, snapshot in rows]
            frozen = session.get(DatasetVersion, version.id).manifest_hash
        engine.dispose()
        assert sorted(stored) == PINNED_CONTENT_HASHES
        assert manifest.manifest_hash(lines) == frozen == PINNED_MANIFEST_HASH


def test_provenance_takes_over_the_source_column_both_ways(backend, tmp_path):
    """0014 moves ``source`` into ``origin`` and ``provenance``; its downgrade writes the
    source back. Items are written at head, taken down to 0013 and up again."""
    made = {
        "written": None,
        "imported": Provenance(origin="imported", import_id=7, file="chats:v2.jsonl", line=3),
        "demo": Provenance(origin="demo", key="greeting"),
    }
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = sa.create_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            admin = make_user(session, role="admin")
            project = projects.create_project(
                session=session, data=ProjectInput(name="Provenance"), actor=admin
            )
            ids = {}
            for name, provenance in made.items():
                draft = ItemDraft(kind="task", instruction=f"Made {name}.", output="Yes.")
                ids[name] = items.create_item(
                    session=session,
                    project=project,
                    draft=draft,
                    author=admin,
                    provenance=provenance,
                ).id
            session.commit()
        migrate.downgrade(url, "0013")
        with engine.connect() as connection:
            sources = dict(connection.execute(sa.text("SELECT id, source FROM items")).all())
        assert sources == {
            ids["written"]: None,
            ids["imported"]: "import:7:chats:v2.jsonl",
            ids["demo"]: "demo:greeting",
        }
        migrate.upgrade(url)
        with Session(engine) as session:
            back = {
                item.id: (item.origin, item.provenance) for item in session.scalars(sa.select(Item))
            }
        engine.dispose()
        assert back == {
            ids["written"]: ("written", {}),
            # The line was never part of the source.
            ids["imported"]: ("imported", {"import_id": 7, "file": "chats:v2.jsonl"}),
            ids["demo"]: ("demo", {"key": "greeting"}),
        }


def test_imported_items_get_the_hash_of_their_content(backend, tmp_path):
    """Before 0015 an imported Chinese row kept the hash of its content marked ``en``; the
    upgrade rehashes it and the revision the import wrote. Other items keep their hash."""
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = sa.create_engine(url)
        imported = Provenance(origin="imported", import_id=1, file="zh.jsonl", line=1)
        with Session(engine, expire_on_commit=False) as session:
            admin = make_user(session, role="admin")
            project = projects.create_project(
                session=session, data=ProjectInput(name="Hashes"), actor=admin
            )
            made = []
            for provenance in (imported, None):
                draft = ItemDraft(kind="task", instruction="总结这段话。", output="好。")
                made.append(
                    items.create_item(
                        session=session,
                        project=project,
                        draft=draft,
                        author=admin,
                        provenance=provenance,
                    )
                )
            right = made[0].content_hash
            wrong = content_hash(
                ItemContent.from_row(made[0]).model_copy(update={"language": "en"})
            )
            assert made[0].language == "zh" and wrong != right
            # As an import before 0015 left them: the item and its revision.
            for item in made:
                session.execute(
                    sa.update(Item).where(Item.id == item.id).values(content_hash=wrong)
                )
                session.execute(
                    sa.update(ItemRevision)
                    .where(ItemRevision.item_id == item.id)
                    .values(content_hash=wrong)
                )
            session.commit()
        migrate.downgrade(url, "0014")
        migrate.upgrade(url)
        with engine.connect() as connection:
            hashes = dict(connection.execute(sa.select(Item.id, Item.content_hash)).all())
            revised = dict(
                connection.execute(sa.select(ItemRevision.item_id, ItemRevision.content_hash)).all()
            )
        engine.dispose()
        # Only the imported item is rehashed; one written in the editor never had a wrong hash.
        assert hashes == revised == {made[0].id: right, made[1].id: wrong}
