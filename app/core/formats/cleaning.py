r"""Optional text cleaning on import: each rule chosen separately, all off by default.

Rules, applied in this order whatever order they are given in:

- ``strip_html``: remove HTML tags and comments; ``<br>`` becomes a newline so lines stay apart.
  Only known HTML element names count as tags, so ``a < b`` and ``List<String>`` survive;
  entities such as ``&amp;`` are left as written. Fenced code blocks are left alone.
- ``control_chars``: remove control characters (C0, DEL, C1) except ``\n`` and ``\t``; a
  ``\r\n`` line ending becomes ``\n``.
- ``nfc``: Unicode normalisation form C.
- ``collapse_spaces``: a run of spaces after other text becomes one space. Newlines, fenced
  code blocks (``` or ~~~) and indentation at the start of a line (nested lists, indented
  code) are kept.
- ``trim``: strip whitespace from both ends of the text.

With no rules, text is returned unchanged. :func:`preview` lists every field a choice of rules
would change, so the user sees each change before importing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterator
from typing import Any

from app.core.kinds import ItemContent, ItemKind

RULES = ("strip_html", "control_chars", "nfc", "collapse_spaces", "trim")

_HTML_ELEMENTS = (
    "a|abbr|address|article|aside|b|bdi|bdo|blockquote|body|br|caption|cite|code|col|colgroup|"
    "dd|del|details|dfn|div|dl|dt|em|figcaption|figure|font|footer|h[1-6]|head|header|hr|html|"
    "i|img|ins|kbd|label|li|link|main|mark|meta|nav|ol|p|picture|pre|q|s|samp|section|small|"
    "source|span|strike|strong|style|sub|summary|sup|table|tbody|td|tfoot|th|thead|time|title|"
    "tr|u|ul|var|wbr"
)
# A comment's end is found with str.find (see _strip_tags): ``<!--.*?-->`` would scan to the end
# of the text from every unclosed ``<!--``, quadratic on a megabyte of them.
_TAG = re.compile(
    r"<!--|<!doctype[^<>]*>|</?(?:" + _HTML_ELEMENTS + r")(?=[\s/>])[^<>]*>", re.IGNORECASE
)
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACE_RUN = re.compile(r"(?<=[^ \n]) {2,}")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def _strip_html(text: str) -> str:
    return _strip_tags(_BREAK.sub("\n", text))


def _strip_tags(text: str) -> str:
    """``text`` without tags and comments: what ``<!--.*?-->|<!doctype…|<tag…>`` (DOTALL) removes.

    A comment runs from ``<!--`` to the first ``-->`` after it. An unclosed one is left as
    written, and once no ``-->`` follows, no later ``<!--`` can close either.
    """
    kept: list[str] = []
    start = pos = 0
    closable = True
    while match := _TAG.search(text, pos):
        end = match.end()
        if match.group() == "<!--":
            close = text.find("-->", end) if closable else -1
            if close == -1:
                closable = False
                pos = match.start() + 1
                continue
            end = close + 3
        kept.append(text[start : match.start()])
        start = pos = end
    kept.append(text[start:])
    return "".join(kept)


def _outside_code(rule: Callable[[str], str]) -> Callable[[str], str]:
    def apply(text: str) -> str:
        return "".join(chunk if code else rule(chunk) for code, chunk in _code_split(text))

    return apply


def _code_split(text: str) -> Iterator[tuple[bool, str]]:
    """Chunks of text, flagged True for fenced code blocks (fences included), CommonMark-style.

    An unclosed fence runs to the end of the text.
    """
    chunk: list[str] = []
    fence = ""
    for line in text.splitlines(keepends=True):
        match = _FENCE.match(line)
        if not fence and match:
            if chunk:
                yield False, "".join(chunk)
            chunk, fence = [line], match.group(1)
        # A closing fence repeats the opening character at least as often, with nothing after.
        elif (
            fence
            and match
            and match.group(1)[0] == fence[0]
            and len(match.group(1)) >= len(fence)
            and not line[match.end() :].strip()
        ):
            chunk.append(line)
            yield True, "".join(chunk)
            chunk, fence = [], ""
        else:
            chunk.append(line)
    if chunk:
        yield bool(fence), "".join(chunk)


_APPLY: dict[str, Callable[[str], str]] = {
    "strip_html": _outside_code(_strip_html),
    "control_chars": lambda text: _CONTROL.sub("", text),
    "nfc": lambda text: unicodedata.normalize("NFC", text),
    "collapse_spaces": _outside_code(lambda text: _SPACE_RUN.sub(" ", text)),
    "trim": str.strip,
}


def check_rules(rules: Collection[str]) -> None:
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise ValueError(f"Unknown cleaning rules {unknown}; expected some of {RULES}.")


def clean(text: str, rules: Collection[str]) -> str:
    """``text`` with the chosen rules applied in :data:`RULES` order."""
    check_rules(rules)
    for rule in RULES:
        if rule in rules:
            text = _APPLY[rule](text)
    return text


def text_fields(content: ItemContent) -> Iterator[tuple[str, str]]:
    """The free-text fields of an item as (field, text); fields are named as in import reports.
    A conversation's instruction and output are its first and last turns, named as turns (a
    pair's turns end with the user's, and its two responses follow them)."""
    if content.system:
        yield "system", content.system
    if content.turns:
        for index, turn in enumerate(content.turns):
            yield f"turns[{index}]", turn.content
    else:
        yield "instruction", content.instruction
    if not content.turns or content.kind is ItemKind.preference:
        yield "output", content.output
    if content.kind is ItemKind.preference:
        yield "rejected", content.rejected
    yield "input", content.input
    for index, demo in enumerate(content.demos):
        yield f"demos[{index}].input", demo.input
        yield f"demos[{index}].output", demo.output
    for index, rule in enumerate(content.rules):
        yield f"rules[{index}]", rule


def preview(
    content_or_text: ItemContent | str, rules: Collection[str]
) -> list[tuple[str, str, str]]:
    """(field, before, after) for each field the rules would change; a bare text is ``text``."""
    if isinstance(content_or_text, str):
        fields: Iterator[tuple[str, str]] = iter([("text", content_or_text)])
    else:
        fields = text_fields(content_or_text)
    changes = []
    for name, before in fields:
        after = clean(before, rules)
        if after != before:
            changes.append((name, before, after))
    return changes


def clean_dump(content: dict[str, Any], rules: Collection[str]) -> list[tuple[str, str, str]]:
    """Clean an import row's text in place (``content`` is a content dump): the system prompt,
    instruction, input and output, a pair's rejected response, and a conversation's turns, whose
    first and last stand for its instruction and output (a pair's first turn stands for its
    instruction; its turns end with the user, and its responses are fields of their own).
    Returns (field, before, after) for each change."""
    changes = []
    turns = content["turns"]
    pair = content["kind"] == ItemKind.preference
    names = ["system", "input"] if turns else ["system", "instruction", "input", "output"]
    if pair:
        names += ["output", "rejected"] if turns else ["rejected"]
    for name in names:
        cleaned = clean(content[name], rules)
        if cleaned != content[name]:
            changes.append((name, content[name], cleaned))
            content[name] = cleaned
    for index, turn in enumerate(turns):
        cleaned = clean(turn["content"], rules)
        if cleaned != turn["content"]:
            changes.append((f"turns[{index}]", turn["content"], cleaned))
            turns[index] = {**turn, "content": cleaned}
    if turns:
        content["instruction"] = turns[0]["content"]
        if not pair:
            content["output"] = turns[-1]["content"]
    return changes


def clean_content(content: ItemContent, rules: Collection[str]) -> ItemContent:
    """The item with its text fields cleaned; constraint parameters are left as they are.

    Raises pydantic's ``ValidationError`` (a ``ValueError``) when cleaning empties a required
    field, e.g. an instruction that was only HTML tags.
    """
    if not rules:
        check_rules(rules)
        return content
    data = content.model_dump()
    data["system"] = clean(content.system, rules)
    data["input"] = clean(content.input, rules)
    data["rejected"] = clean(content.rejected, rules)
    if content.turns:  # the instruction (and output) follow the first (and last) turns
        turns = data["turns"]
        data["turns"] = [{**turn, "content": clean(turn["content"], rules)} for turn in turns]
        del data["instruction"]
        if content.kind is ItemKind.preference:  # a pair's turns end with the user's
            data["output"] = clean(content.output, rules)
        else:
            del data["output"]
    else:
        data["instruction"] = clean(content.instruction, rules)
        data["output"] = clean(content.output, rules)
    data["demos"] = [
        {"input": clean(demo.input, rules), "output": clean(demo.output, rules)}
        for demo in content.demos
    ]
    data["rules"] = [clean(rule, rules) for rule in content.rules]
    return ItemContent.model_validate(data)
