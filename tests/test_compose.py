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
