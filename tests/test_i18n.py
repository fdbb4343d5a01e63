"""Every user-visible string is translated into Simplified Chinese."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app.paths import LOCALES, ROOT

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
METHODS = [("app/**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {
    "templates/**.html": {
        "extensions": "jinja2.ext.i18n",
        "trim_blocks": "True",
        "lstrip_blocks": "True",
    }
}


def _catalog():
    with (LOCALES / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale="zh")


def test_no_untranslated_or_fuzzy_entries():
    catalog = _catalog()
    bad = [
        m.id
        for m in catalog
        if m.id and (m.fuzzy or not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    assert not bad, f"untranslated or fuzzy: {bad}"


def test_every_string_in_the_code_is_in_the_catalog():
    catalog = _catalog()
    missing = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        ROOT, method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid and catalog.get(msgid) is None:
            missing.add(msgid)
    assert not missing, f"not in the zh catalog (run `make i18n`): {sorted(missing)}"


def test_placeholders_survive_translation():
    import re

    pattern = r"%\(\w+\)s|\{\w+\}"
    for message in _catalog():
        if not message.id:
            continue
        if isinstance(message.id, tuple):  # plural: Chinese has one form, like the English plural
            wanted = sorted(set(re.findall(pattern, message.id[1])))
            for form in message.string:
                assert sorted(set(re.findall(pattern, form))) == wanted, message.id
            continue
        assert sorted(re.findall(pattern, message.id)) == sorted(
            re.findall(pattern, message.string)
        ), message.id
