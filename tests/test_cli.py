"""The `studio` command, run as a real process from another directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app import migrate
from tests.dbs import fresh_database

STUDIO = shutil.which("studio") or str(Path(sys.executable).parent / "studio")


@pytest.fixture
def cli_env(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        env = {**os.environ, "STUDIO_DATABASE_URL": url, "STUDIO_VAR_DIR": str(tmp_path / "var")}
        yield env


def studio(env, *args, cwd="/") -> subprocess.CompletedProcess:
    return subprocess.run(
        [STUDIO, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_users_create_then_duplicate_fails(cli_env):
    first = studio(cli_env, "users", "create", "--email", "Ann@Example.org", "--role", "annotator")
    assert first.returncode == 0, first.stderr
    assert "created annotator ann@example.org" in first.stdout
    assert "password: " in first.stdout  # generated and printed once
    again = studio(
        cli_env,
        "users",
        "create",
        "--email",
        "ann@example.org",
        "--role",
        "admin",
        "--password",
        "long-enough-1",
    )
    assert again.returncode != 0
    assert "already exists" in again.stderr


def test_set_role_and_deactivate(cli_env):
    studio(
        cli_env,
        "users",
        "create",
        "--email",
        "r@example.org",
        "--role",
        "annotator",
        "--password",
        "long-enough-1",
    )
    assert (
        studio(
            cli_env, "users", "set-role", "--email", "r@example.org", "--role", "reviewer"
        ).returncode
        == 0
    )
    assert studio(cli_env, "users", "deactivate", "--email", "r@example.org").returncode == 0
    listing = studio(cli_env, "users", "list").stdout
    assert "r@example.org\treviewer\tdeactivated" in listing
    missing = studio(cli_env, "users", "deactivate", "--email", "nobody@example.org")
    assert missing.returncode == 1 and "No user with email" in missing.stderr


def test_tokens_create_list_revoke(cli_env):
    created = studio(cli_env, "tokens", "create", "--name", "gpu-1", "--scope", "worker")
    assert created.returncode == 0, created.stderr
    raw = created.stdout.strip()
    assert raw.startswith("st_")
    listing = studio(cli_env, "tokens", "list").stdout
    assert "gpu-1\tworker" in listing and raw not in listing
    token_id = listing.split("\t")[0]
    assert studio(cli_env, "tokens", "revoke", token_id).returncode == 0
    assert "revoked" in studio(cli_env, "tokens", "list").stdout
    assert studio(cli_env, "tokens", "revoke", token_id).returncode == 1


def test_setup_creates_one_admin_and_is_idempotent(cli_env):
    first = studio(cli_env, "setup")
    assert first.returncode == 0, first.stderr
    assert "Generated password (shown once): " in first.stdout
    second = studio(cli_env, "setup")
    assert second.returncode == 0 and "Generated password" not in second.stdout
    assert studio(cli_env, "users", "list").stdout.count("\tadmin\t") == 1


def test_db_downgrade_and_upgrade(cli_env):
    assert studio(cli_env, "db", "downgrade", "base").returncode == 0
    assert studio(cli_env, "db", "upgrade").returncode == 0


def test_production_refuses_to_start_without_a_secret(tmp_path):
    env = {
        **os.environ,
        "STUDIO_ENV": "production",
        "STUDIO_SECRET_KEY": "",
        "STUDIO_VAR_DIR": str(tmp_path),
    }
    result = studio(env, "serve", "--port", "8799")
    assert result.returncode != 0
    assert "STUDIO_SECRET_KEY must be set" in result.stderr


def test_setup_takes_the_admin_from_settings(cli_env):
    import sqlalchemy as sa

    from app.security import verify_password

    env = {
        **cli_env,
        "STUDIO_ADMIN_EMAIL": "chief@example.org",
        "STUDIO_ADMIN_PASSWORD": "chosen-password-1",
    }
    result = studio(env, "setup")
    assert result.returncode == 0, result.stderr
    assert "Created the first admin: chief@example.org" in result.stdout
    assert "Generated password" not in result.stdout and "chosen-password-1" not in result.stdout
    engine = sa.create_engine(cli_env["STUDIO_DATABASE_URL"])
    with engine.connect() as conn:
        stored = conn.scalar(
            sa.text("SELECT password_hash FROM users WHERE email = 'chief@example.org'")
        )
    engine.dispose()
    assert verify_password("chosen-password-1", stored)
