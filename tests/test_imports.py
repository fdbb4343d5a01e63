"""Imports point one way: the shared core loads no web or database framework."""

from __future__ import annotations

import subprocess
import sys


def test_core_loads_neither_fastapi_nor_sqlalchemy():
    code = (
        "import sys, pkgutil, importlib, app.core\n"
        "for m in pkgutil.walk_packages(app.core.__path__, 'app.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "{'fastapi', 'sqlalchemy', 'starlette', 'torch', 'transformers'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_app_init_is_empty():
    from pathlib import Path

    import app

    assert Path(app.__file__).read_text().strip() == ""
