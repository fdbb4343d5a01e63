"""Optional cleaning rules on import, each on its own, and the preview of what they change."""

from __future__ import annotations

import pytest

from app.core.formats.cleaning import RULES, clean, clean_content, preview
from app.core.kinds import ItemContent

MESSY = "  <p>Caf\u0065\u0301 \x00menu</p>\r\n<br>a  <b>b</b>   c\t\td  "


def test_no_rules_return_the_text_unchanged():
    assert clean(MESSY, set()) is MESSY
    assert preview(MESSY, set()) == []


def test_strip_html():
    assert clean("<p>Hello <b>world</b></p><!-- note -->", {"strip_html"}) == "Hello world"
    assert clean("one<br>two<BR />three", {"strip_html"}) == "one\ntwo\nthree"
    assert clean('<a href="x.html">link</a>', {"strip_html"}) == "link"


@pytest.mark.parametrize("text", ["a < b and c > d", "List<String> items", "x<y>z", "3 <5"])
def test_strip_html_keeps_things_that_are_not_tags(text):
    assert clean(text, {"strip_html"}) == text


def test_strip_html_leaves_fenced_code_alone():
    text = "<p>Run:</p>\n```html\n<p>kept</p>\n```\n<i>done</i>"
    assert clean(text, {"strip_html"}) == "Run:\n```html\n<p>kept</p>\n```\ndone"


def test_control_chars_keep_newlines_and_tabs():
    assert clean("a\x00b\x1bc\x7fd\x85e\tf\ng\r\nh", {"control_chars"}) == "abcde\tf\ng\nh"


def test_nfc():
    assert clean("Cafe\u0301", {"nfc"}) == "Caf\u00e9"


def test_collapse_spaces_keeps_newlines_indentation_and_tabs():
    text = "a   b  c\n    indented   line  \n\n- x\n  - nested   item\tkeep\t\ttabs"
    assert clean(text, {"collapse_spaces"}) == (
        "a b c\n    indented line \n\n- x\n  - nested item\tkeep\t\ttabs"
    )


def test_collapse_spaces_leaves_fenced_code_intact():
    text = "Some   prose.\n```python\nx  =  1    # aligned\n```\nMore   prose.\n~~~\na   b\n~~~~\n"
    assert clean(text, {"collapse_spaces"}) == (
        "Some prose.\n```python\nx  =  1    # aligned\n```\nMore prose.\n~~~\na   b\n~~~~\n"
    )


def test_an_unclosed_fence_runs_to_the_end():
    text = "a  b\n```\nc  d\n"
    assert clean(text, {"collapse_spaces"}) == "a b\n```\nc  d\n"


def test_a_shorter_or_different_fence_does_not_close():
    text = "````\na  b\n```\n~~~~\nc  d\n````\ne  f"
    assert clean(text, {"collapse_spaces"}) == "````\na  b\n```\n~~~~\nc  d\n````\ne f"


def test_trim():
    assert clean(" \n\tHello \n ", {"trim"}) == "Hello"


def test_all_rules_apply_in_a_fixed_order():
    assert clean(MESSY, set(RULES)) == "Caf\u00e9 menu\n\na b c\t\td"
    assert clean(MESSY, list(reversed(RULES))) == clean(MESSY, set(RULES))


def test_unknown_rule():
    with pytest.raises(ValueError, match="Unknown cleaning rules"):
        clean("x", {"lowercase"})


def test_preview_lists_only_changed_fields():
    content = ItemContent(
        kind="example",
        instruction="Translate  to French. ",
        demos=[{"input": "Hello", "output": "Bonjour "}],
        input="Thanks",
        output="Merci",
    )
    assert preview(content, {"collapse_spaces", "trim"}) == [
        ("instruction", "Translate  to French. ", "Translate to French."),
        ("demos[0].output", "Bonjour ", "Bonjour"),
    ]
    assert preview("<b>x</b>", {"strip_html"}) == [("text", "<b>x</b>", "x")]


def test_clean_content():
    content = ItemContent(
        kind="constraint",
        instruction=" <p>Describe Paris.</p> ",
        output="PARIS",
        constraints=[{"id": "startend:end_checker", "params": {"end_phrase": "  Bye  "}}],
        rules=["Be  brief."],
    )
    cleaned = clean_content(content, {"strip_html", "collapse_spaces", "trim"})
    assert cleaned.instruction == "Describe Paris."
    assert cleaned.rules == ["Be brief."]
    assert cleaned.constraints == content.constraints
    assert clean_content(content, set()) is content


def test_clean_content_that_empties_the_instruction_is_rejected():
    content = ItemContent(kind="task", instruction="<p></p>")
    with pytest.raises(ValueError, match="instruction must not be empty"):
        clean_content(content, {"strip_html"})
