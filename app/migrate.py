"""Alembic, driven from code so `studio db …` works from any directory."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from app.paths import MIGRATIONS


def alembic_config(url: str, engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(slug)s")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    command.upgrade(alembic_config(url, engine), revision)


def downgrade(url: str, revision: str, engine: Engine | None = None) -> None:
    command.downgrade(alembic_config(url, engine), revision)


def check(url: str, engine: Engine | None = None) -> None:
    """Raise when the models and the migrated schema disagree."""
    command.check(alembic_config(url, engine))
