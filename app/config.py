"""Settings, read from the environment with the ``STUDIO_`` prefix."""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    production = "production"


class Settings(BaseSettings):
    """Every setting is documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="STUDIO_", extra="ignore")

    env: Environment = Environment.development
    var_dir: Path = Field(default=Path("var"), description="Where development state lives.")
    database_url: str = Field(default="", description="SQLAlchemy URL; SQLite under var/ if empty.")
    secret_key: str = Field(default="", description="Signs cookies; generated in development.")
    artifacts_dir: Path | None = None
    session_hours: int = Field(default=12, ge=1, le=24 * 90)
    secure_cookies: bool = False
    default_language: str = Field(default="en", pattern="^(en|zh)$")
    login_max_failures: int = Field(default=5, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)
    admin_email: str = "admin@example.com"
    admin_password: str = ""
    tokenizer: Path | None = Field(default=None, description="tokenizer.json for token counts.")

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.env is Environment.production and not self.secret_key:
            raise ValueError("STUDIO_SECRET_KEY must be set when STUDIO_ENV=production")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'studio.db').resolve()}"

    @property
    def resolved_artifacts_dir(self) -> Path:
        return self.artifacts_dir or self.var_dir / "artifacts"

    def resolved_secret_key(self) -> str:
        """The explicit key, or in development one generated once and kept under var/."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
