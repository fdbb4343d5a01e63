"""Alembic environment: the app's metadata, on whichever engine the caller gives."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql import JSONB

import app.models  # noqa: F401 - registers every table
from app.models.base import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):
    """Render our column types as plain SQLAlchemy ones in migration files."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type(obj).__name__ == "JSON" and getattr(obj, "_variant_mapping", None):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def compare_type(context, inspected_column, metadata_column, inspected_type, metadata_type):
    # JSON with a JSONB variant reflects as JSONB on PostgreSQL and JSON on SQLite.
    if isinstance(inspected_type, JSONB) and type(metadata_type).__name__ == "JSON":
        return False
    return None


def run_migrations() -> None:
    engine = config.attributes.get("engine") or create_engine(
        config.get_main_option("sqlalchemy.url")
    )
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration rebuilds a table; with foreign keys on, dropping the old
            # table would cascade-delete dependent rows. The pragma only works outside a
            # transaction, so set it on the driver connection before SQLAlchemy begins one.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_item=render_item,
            compare_type=compare_type,
            render_as_batch=sqlite,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")


run_migrations()
