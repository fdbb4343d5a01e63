"""Where the project's non-Python folders live, wherever `studio` is run from.

The make targets and the Docker image install the project in editable mode, so
migrations/, templates/ and static/ sit beside the `app` package.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
LOCALES = ROOT / "app" / "locales"
