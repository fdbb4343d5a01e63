"""The README documents every setting."""

from app.config import Settings
from app.paths import ROOT


def test_every_setting_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"STUDIO_{n.upper()}"
        for n in Settings.model_fields
        if f"`STUDIO_{n.upper()}`" not in readme
    ]
    assert not missing
