"""The manifest line's shortcut: when the JSON line of a record is NFC as a whole, it is the
line of the record with every string normalised; otherwise the record is normalised first.
Either way the line equals the definition's (normalise every string, then dump)."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from app.core import manifest

# Bases that compose with the marks, the marks themselves (out of order too), singletons that
# NFC replaces (Ångström, Ohm, Kelvin), CJK, JSON's escaped characters and controls.
ALPHABET = 'aenuA"\\\n\t\r\x00\x1f \u0301\u0308\u0323\u0307\u212b\u2126\u212a\u00e9中文'
text = st.text(alphabet=ALPHABET, max_size=12)
demo = st.fixed_dictionaries({"input": text, "output": text})


def by_definition(split: str, snapshot: dict) -> str:
    def nfc(value):
        if isinstance(value, str):
            return unicodedata.normalize("NFC", value)
        if isinstance(value, list):
            return [nfc(v) for v in value]
        if isinstance(value, dict):
            return {k: nfc(v) for k, v in value.items()}
        return value

    record = {"split": split, **{f: snapshot.get(f) for f in manifest.MANIFEST_FIELDS}}
    return json.dumps(nfc(record), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@given(
    st.fixed_dictionaries(
        {"kind": st.just("example"), "instruction": text, "input": text, "output": text},
        optional={"demos": st.lists(demo, max_size=3)},
    )
)
def test_the_line_is_the_definition_s(snapshot):
    for split in ("train", "eval"):
        assert manifest.manifest_line(split, snapshot) == by_definition(split, snapshot)


def test_a_decomposed_accent_is_composed():
    line = manifest.manifest_line("train", {"kind": "task", "instruction": "cafe\u0301"})
    assert "café" in line and "\u0301" not in line


def test_an_escape_before_a_mark_is_not_composed_with_it():
    # The line reads `\n` then the mark: the shortcut must not compose the n with it.
    snapshot = {"kind": "task", "instruction": "a\n\u0301"}
    assert manifest.manifest_line("train", snapshot) == by_definition("train", snapshot)
