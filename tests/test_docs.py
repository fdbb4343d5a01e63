"""The README documents every setting, in its configuration table."""

import re

from app.config import Settings
from app.paths import ROOT


def _configuration_table() -> dict[str, str]:
    """Variable → default, from the rows of the README's "## Configuration" table."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(STUDIO_\w+)` \| ([^|]+) \|", section, flags=re.M)
    return {name: default.strip() for name, default in rows}


def test_every_setting_is_in_the_configuration_table():
    table = _configuration_table()
    fields = {f"STUDIO_{n.upper()}" for n in Settings.model_fields}
    assert not fields - set(table), f"settings missing from the README: {fields - set(table)}"
    assert not set(table) - fields, f"README documents unknown settings: {set(table) - fields}"


def test_documented_literal_defaults_match_the_code():
    table = _configuration_table()
    for name, field in Settings.model_fields.items():
        documented = table[f"STUDIO_{name.upper()}"]
        literal = re.fullmatch(r"`([^`$]*)`", documented)
        if literal and field.default not in (None, ""):
            default = field.default
            expected = str(default).lower() if isinstance(default, bool) else str(default)
            assert literal.group(1) == expected, name
