"""docker-compose.yml runs real `studio` commands with the settings production needs."""

from __future__ import annotations

import click
import yaml

from app.cli import main as studio
from app.config import Settings
from app.paths import ROOT


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _resolve(argv: list[str]) -> click.Command:
    """Walk the click tree like the shell would; fail on an unknown command or option."""
    assert argv[0] == "studio", argv
    ctx = studio.make_context("studio", list(argv[1:]), resilient_parsing=False)
    command: click.Command = studio
    args = list(argv[1:])
    while isinstance(command, click.Group):
        name, sub, args = command.resolve_command(ctx, args)
        assert sub is not None, f"unknown command {name}"
        ctx = sub.make_context(name, list(args), parent=ctx)
        command = sub
    return command


def test_services_and_their_commands():
    services = _compose()["services"]
    assert {"postgres", "migrate", "web"} <= set(services)
    assert _resolve(services["migrate"]["command"]).name == "setup"
    assert _resolve(services["web"]["command"]).name == "serve"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_settings_passed_are_real_settings():
    services = _compose()["services"]
    known = {f"STUDIO_{name.upper()}" for name in Settings.model_fields}
    for name in ("migrate", "web"):
        env = services[name]["environment"]
        assert set(env) <= known, set(env) - known
        assert env["STUDIO_ENV"] == "production"
        assert env["STUDIO_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "STUDIO_SECRET_KEY" in env
    assert services["migrate"]["volumes"] == services["web"]["volumes"]


def test_trainer_gets_its_token_from_the_one_shot_service():
    from trainer.__main__ import build_parser

    services = _compose()["services"]
    token_service = services["worker-token"]
    assert _resolve(token_service["command"]).name == "file"
    token_path = token_service["command"][3]
    trainer = services["trainer"]
    assert trainer["command"][:3] == ["python", "-m", "trainer"]
    args = build_parser().parse_args(trainer["command"][3:])
    assert args.token_file == token_path and args.url == "http://web:8000"
    secrets = {v.split(":")[0] for v in trainer["volumes"]}
    assert {"secrets", "artifacts"} <= secrets
    assert any(v.startswith("secrets:") for v in token_service["volumes"])
    assert trainer["depends_on"]["worker-token"]["condition"] == "service_completed_successfully"
    assert (ROOT / trainer["build"]["dockerfile"]).exists()
    gpu = yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())
    devices = gpu["services"]["trainer"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]


def test_token_file_is_created_once_and_replaced_when_revoked(db_session, tmp_path):
    from app.tokens import service
    from app.tokens.files import ensure_worker_token_file

    path = tmp_path / "secrets" / "worker_token"
    first = ensure_worker_token_file(db_session, path, name="w")
    assert path.read_text() == first and (path.stat().st_mode & 0o777) == 0o600
    assert ensure_worker_token_file(db_session, path, name="w") == first
    token, _ = service.resolve_token(session=db_session, raw=first)
    service.revoke_token(session=db_session, token_id=token.id, actor=None)
    replaced = ensure_worker_token_file(db_session, path, name="w")
    assert replaced != first and path.read_text() == replaced
    assert service.resolve_token(session=db_session, raw=replaced) is not None


def test_worker_reads_its_token_file(tmp_path):
    import pytest

    from trainer.__main__ import read_token_file

    path = tmp_path / "worker_token"
    with pytest.raises(SystemExit, match="no worker token"):
        read_token_file(path, wait=0)
    path.write_text("sk-worker-abc\n")
    assert read_token_file(path, wait=0) == "sk-worker-abc"
