"""One distribution with pinned dependencies; the make targets install it in editable mode."""

from __future__ import annotations

import re
import tomllib

from app.paths import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[\w,]+\])?==([\w.]+)", requirement)
        assert match, f"not pinned with ==: {requirement}"
        pins[match.group(1).lower()] = match.group(2)
    return pins


def test_every_dependency_is_pinned():
    runtime = _pins(PROJECT["dependencies"])
    assert {
        "fastapi",
        "sqlalchemy",
        "alembic",
        "pydantic",
        "pydantic-settings",
        "jinja2",
        "uvicorn",
        "python-multipart",
        "psycopg",
        "pwdlib",
        "babel",
        "tokenizers",
    } <= set(runtime)
    assert runtime["sqlalchemy"].startswith("2.") and runtime["pydantic"].startswith("2.")
    assert "psycopg[binary]" in " ".join(PROJECT["dependencies"])
    assert "pwdlib[argon2]" in " ".join(PROJECT["dependencies"])


def test_extras():
    extras = PROJECT["optional-dependencies"]
    train = _pins(extras["train"])
    assert train["torch"] == "2.13.0"
    assert {"transformers", "peft", "safetensors"} <= set(train)
    assert {"pytest", "playwright", "ruff"} <= set(_pins(extras["dev"]))


def test_the_studio_command_and_an_empty_package():
    assert PROJECT["scripts"]["studio"] == "app.cli:main"
    assert (ROOT / "app" / "__init__.py").read_text() == ""


def test_make_installs_in_editable_mode():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-e \"\.\[\$\(EXTRAS\)\]\"", makefile)
    assert re.search(r"^run:\n(\t.*\n)*\t.*install", makefile, flags=re.M)
    assert re.search(r"^test:\n(\t.*\n)*\t.*install", makefile, flags=re.M)


def test_license_is_an_spdx_expression():
    # The table form ({text = ...}) is deprecated: every install printed a warning banner.
    assert PROJECT["license"] == "Apache-2.0"
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert "setuptools>=77" in build["requires"]  # the first to read the SPDX form
