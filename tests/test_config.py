"""Settings: STUDIO_ variables, development defaults under var/, production needs a secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings


@pytest.fixture
def clean_env(monkeypatch):
    """Settings read from the environment only what each test sets."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"STUDIO_{name.upper()}", raising=False)
    return monkeypatch


def test_defaults(clean_env, tmp_path):
    settings = Settings(var_dir=tmp_path)
    assert settings.env == "development"
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'studio.db').resolve()}"
    assert settings.resolved_artifacts_dir == tmp_path / "artifacts"
    assert (settings.session_hours, settings.cookies_secure) == (12, False)
    assert settings.default_language == "en"


def test_read_from_studio_variables(clean_env, tmp_path):
    clean_env.setenv("STUDIO_DATABASE_URL", "postgresql+psycopg://u@h:5432/db")
    clean_env.setenv("STUDIO_ARTIFACTS_DIR", str(tmp_path / "art"))
    clean_env.setenv("STUDIO_SESSION_HOURS", "3")
    clean_env.setenv("STUDIO_SECURE_COOKIES", "true")
    clean_env.setenv("STUDIO_DEFAULT_LANGUAGE", "zh")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql+psycopg://u@h:5432/db"
    assert settings.resolved_artifacts_dir == tmp_path / "art"
    assert settings.session_hours == 3 and settings.cookies_secure is True
    assert settings.default_language == "zh"


def test_settings_hold_no_test_hooks():
    """Tests read STUDIO_TEST_DATA through tests/conftest.py; the app has no such setting."""
    assert not [name for name in Settings.model_fields if name.startswith("test")]


def test_unknown_language_is_refused(clean_env):
    clean_env.setenv("STUDIO_DEFAULT_LANGUAGE", "fr")
    with pytest.raises(ValidationError):
        Settings()


def test_development_secret_is_generated_once_and_kept(clean_env, tmp_path):
    first = Settings(var_dir=tmp_path).resolved_secret_key()
    path = tmp_path / "secret_key"
    assert path.read_text() == first and len(first) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert Settings(var_dir=tmp_path).resolved_secret_key() == first  # a restart keeps it


def test_explicit_secret_wins_and_writes_nothing(clean_env, tmp_path):
    settings = Settings(var_dir=tmp_path, secret_key="explicit-secret")
    assert settings.resolved_secret_key() == "explicit-secret"
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_to_start_without_an_explicit_secret(clean_env, tmp_path):
    (tmp_path / "secret_key").write_text("a development key must not be picked up")
    clean_env.setenv("STUDIO_ENV", "production")
    with pytest.raises(ValidationError, match="STUDIO_SECRET_KEY must be set"):
        Settings(var_dir=tmp_path)
    clean_env.setenv("STUDIO_SECRET_KEY", "a-real-production-secret")
    assert Settings(var_dir=tmp_path).resolved_secret_key() == "a-real-production-secret"
