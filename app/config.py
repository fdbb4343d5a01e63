"""Settings, read from the environment with the ``STUDIO_`` prefix."""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    secure_cookies: bool | None = Field(
        default=None, description="Secure cookies and HSTS; on by default in production."
    )
    default_language: str = Field(default="en", pattern="^(en|zh)$")
    login_max_failures: int = Field(default=5, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)
    login_address_max_failures: int = Field(
        default=50, ge=1, description="Failed sign-ins per client address before throttling."
    )
    login_max_delay_seconds: int = Field(
        default=300, ge=1, description="The longest a throttled sign-in is told to wait."
    )
    max_body_bytes: int = Field(
        default=2 * 1024**2, ge=1024, description="Largest JSON or form request body."
    )
    max_upload_bytes: int = Field(
        default=2 * 1024**3, ge=1024, description="Largest import upload."
    )
    max_instruction_chars: int = Field(default=20_000, ge=1)
    max_input_chars: int = Field(default=100_000, ge=1)
    max_output_chars: int = Field(default=100_000, ge=1)
    max_demo_chars: int = Field(default=20_000, ge=1, description="Per demonstration field.")
    max_system_chars: int = Field(default=20_000, ge=1, description="The system prompt.")
    max_turns: int = Field(default=100, ge=2, description="Turns in one conversation.")
    max_turn_chars: int = Field(default=100_000, ge=1, description="Per conversation turn.")
    model_roots: list[Path] = Field(
        default_factory=list,
        description="Folders under which a job may name a local base model; none when empty.",
    )
    background_threads: int = Field(
        default=1,
        ge=0,
        description="Background task loops in each web process; 0 leaves tasks to "
        "`studio worker --background`.",
    )
    background_lease_seconds: float = Field(
        default=120, ge=1, description="How long a silent background task stays claimed."
    )
    background_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often an idle loop looks for queued tasks."
    )
    background_batch_rows: int = Field(
        default=5000, ge=1, description="Rows a background import commits at a time."
    )
    background_pause_after_batch: int = Field(
        default=0, ge=0, description="For tests: pause a task after its Nth committed batch."
    )
    background_pause_seconds: float = Field(
        default=0, ge=0, description="How long that pause lasts."
    )
    admin_email: str = "admin@example.com"
    admin_password: str = ""
    tokenizer: Path | None = Field(default=None, description="tokenizer.json for token counts.")
    metrics_dir: Path | None = Field(
        default=None, description="Where `studio serve --workers N` processes keep their metrics."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="`studio serve` logs as text, or as one JSON object a line."
    )

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.env is Environment.production and not self.secret_key:
            raise ValueError("STUDIO_SECRET_KEY must be set when STUDIO_ENV=production")
        return self

    @property
    def cookies_secure(self) -> bool:
        """``secure_cookies`` when set, else on in production only."""
        if self.secure_cookies is None:
            return self.env is Environment.production
        return self.secure_cookies

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'studio.db').resolve()}"

    @property
    def resolved_artifacts_dir(self) -> Path:
        return self.artifacts_dir or self.var_dir / "artifacts"

    @property
    def resolved_metrics_dir(self) -> Path:
        return self.metrics_dir or self.var_dir / "metrics"

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
