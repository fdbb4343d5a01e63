"""``detectable_format:*``: JSON, bullet points, highlights, sections, a title, fixed answers.

Verdicts follow IFEval's ``instructions.py`` (google-research, Apache-2.0): bullet points are
lines starting with ``*`` or ``-``; highlights are ``*text*`` and ``**text**`` on one line; a
section starts with the marker followed by a number.

Every check runs in time linear in the response. IFEval's bullet and title patterns
(``^\\s*\\*[^\\*].*$`` with ``re.MULTILINE``, ``<<[^\\n]+>>``) are quadratic on runs of blank
lines or of ``<``; they are replaced by scans that give the same counts and titles.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

from pydantic import StringConstraints

from .base import (
    N_,
    ConstraintSpec,
    Count,
    NoParams,
    Params,
    Verdict,
    count_field,
    ngettext,
    quoted,
    templates,
)

CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


class NumberBullets(Params):
    num_bullets: Count = count_field(1_000)


class NumberHighlights(Params):
    num_highlights: Count = count_field(1_000)


class MultipleSections(Params):
    section_spliter: Annotated[  # IFEval's spelling
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)
    ]
    num_sections: Count = count_field(1_000)


def check_json_format(response: str) -> Verdict:
    value = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        value = value.removeprefix(fence)
    value = value.removesuffix("```").strip()
    try:
        json.loads(value)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested too deeply
        return Verdict(False, N_("The response is not valid JSON: {error}."), {"error": str(exc)})
    return Verdict(True, N_("The response is valid JSON."), {})


_SPACES = re.compile(r"\s*")


def count_line_starts(response: str, marker: str) -> int:
    """How many matches ``re.findall`` finds for IFEval's ``^\\s*\\*[^\\*].*$`` (marker ``*``) or
    ``^\\s*-.*$`` (marker ``-``) with ``re.MULTILINE``, in one pass.

    ``\\s*`` crosses newlines, so an attempt at a line start succeeds exactly when the first
    non-space character from there is the marker (for ``*``, followed by a character other
    than ``*``, a newline included). Every line start up to that character sees the same one, so
    a failed attempt skips them all; a match runs to the end of the line where ``.*`` stops.
    """
    count, pos, end = 0, 0, len(response)
    star = marker == "*"
    width = 2 if star else 1  # the marker, and for stars the [^*] after it
    while pos <= end:
        first = _SPACES.match(response, pos).end()
        if first == end:
            break
        if response[first] == marker and (
            not star or (first + 1 < end and response[first + 1] != "*")
        ):
            count += 1
            stop = response.find("\n", first + width)
            if stop == -1:
                break
            # The next attempt is the next line start: here, if the match ended on an empty line.
            pos = stop if response[stop - 1] == "\n" else stop + 1
        else:
            newline = response.find("\n", first)
            if newline == -1:
                break
            pos = newline + 1
    return count


def check_number_bullet_lists(response: str, *, num_bullets: int) -> Verdict:
    count = count_line_starts(response, "*") + count_line_starts(response, "-")
    return Verdict(
        count == num_bullets,
        ngettext(
            "Found {count} bullet point; needs exactly {expected}.",
            "Found {count} bullet points; needs exactly {expected}.",
        ),
        {"count": count, "expected": num_bullets},
    )


def count_highlights(response: str) -> int:
    count = 0
    for highlight in re.findall(r"\*[^\n\*]*\*", response):
        if highlight.strip("*").strip():
            count += 1
    for highlight in re.findall(r"\*\*[^\n\*]*\*\*", response):
        if highlight.removeprefix("**").removesuffix("**").strip():
            count += 1
    return count


def check_number_highlighted_sections(response: str, *, num_highlights: int) -> Verdict:
    count = count_highlights(response)
    return Verdict(
        count >= num_highlights,
        ngettext(
            "Found {count} highlighted section; needs at least {limit}.",
            "Found {count} highlighted sections; needs at least {limit}.",
        ),
        {"count": count, "limit": num_highlights},
    )


def check_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> Verdict:
    pattern = r"\s?" + re.escape(section_spliter) + r"\s?\d+\s?"
    count = len(re.split(pattern, response)) - 1
    return Verdict(
        count >= num_sections,
        ngettext(
            'Found {count} section marked "{marker}"; needs at least {limit}.',
            'Found {count} sections marked "{marker}"; needs at least {limit}.',
        ),
        {"count": count, "marker": section_spliter, "limit": num_sections},
    )


def titles(response: str) -> list[str]:
    """What ``re.findall(r"<<[^\\n]+>>", response)`` finds: at most one per line, from its first
    ``<<`` to its last ``>>`` with at least one character between them."""
    found = []
    pos = 0
    while (start := response.find("<<", pos)) != -1:
        end = response.find("\n", start)
        end = len(response) if end == -1 else end
        close = response.rfind(">>", start, end)
        if close >= start + 3:
            found.append(response[start : close + 2])
        pos = end + 1
    return found


def check_title(response: str) -> Verdict:
    for title in titles(response):
        if title.lstrip("<").rstrip(">").strip():
            return Verdict(True, N_("Found the title {title}."), {"title": title})
    return Verdict(False, N_("No title in <<double angular brackets>> found."), {})


def check_constrained_response(response: str) -> Verdict:
    value = response.strip()
    for option in CONSTRAINED_OPTIONS:
        if option in value:
            return Verdict(True, N_('The response contains "{option}".'), {"option": option})
    return Verdict(
        False,
        N_("The response contains none of the options {options}."),
        {"options": quoted(CONSTRAINED_OPTIONS, "en")},
    )


def _render_options(params: dict, lang: str) -> str:
    options = quoted(CONSTRAINED_OPTIONS, "en")  # the checker looks for these English phrases
    if lang == "zh":
        return f"请从以下选项中选择一个作答：{options.replace(', ', '、')}"
    return f"Answer with one of the following options: {options}"


SPECS = [
    ConstraintSpec(
        "detectable_format:json_format",
        {"en": "JSON format", "zh": "JSON 格式"},
        NoParams,
        check_json_format,
        templates(
            "Entire output should be wrapped in JSON format. "
            "You can use markdown ticks such as ```.",
            "整个输出应为 JSON 格式，可以使用 Markdown 代码标记，例如 ```。",
        ),
    ),
    ConstraintSpec(
        "detectable_format:number_bullet_lists",
        {"en": "Number of bullet points", "zh": "项目符号条数"},
        NumberBullets,
        check_number_bullet_lists,
        templates(
            "Your answer must contain exactly {num_bullets} bullet points. "
            "Use the markdown bullet points such as:\n* This is point 1.\n"
            "* This is point 2",
            "回答必须恰好包含 {num_bullets} 个项目符号要点，使用 Markdown 项目符号，"
            "例如：\n* 这是第 1 点。\n* 这是第 2 点",
        ),
    ),
    ConstraintSpec(
        "detectable_format:number_highlighted_sections",
        {"en": "Highlighted sections", "zh": "突出显示的部分"},
        NumberHighlights,
        check_number_highlighted_sections,
        templates(
            "Highlight at least {num_highlights} sections in your answer with markdown, "
            "i.e. *highlighted section*.",
            "用 Markdown 在回答中突出显示至少 {num_highlights} 个部分，例如 *突出显示的部分*。",
        ),
    ),
    ConstraintSpec(
        "detectable_format:multiple_sections",
        {"en": "Numbered sections", "zh": "分节"},
        MultipleSections,
        check_multiple_sections,
        templates(
            "Your response must have {num_sections} sections. Mark the beginning of each "
            "section with {section_spliter} X, such as:\n{section_spliter} 1\n"
            "[content of section 1]\n{section_spliter} 2\n[content of section 2]",
            "回答必须包含 {num_sections} 个部分，每个部分的开头用“{section_spliter} X”"
            "标出，例如：\n{section_spliter} 1\n[第 1 部分的内容]\n"
            "{section_spliter} 2\n[第 2 部分的内容]",
        ),
    ),
    ConstraintSpec(
        "detectable_format:title",
        {"en": "Title in << >>", "zh": "<< >> 标题"},
        NoParams,
        check_title,
        templates(
            "Your answer must contain a title, wrapped in double angular brackets, "
            "such as <<poem of joy>>.",
            "回答必须包含一个标题，用双尖括号括起来，例如 <<欢乐之诗>>。",
        ),
    ),
    ConstraintSpec(
        "detectable_format:constrained_response",
        {"en": "Fixed answer options", "zh": "固定答案选项"},
        NoParams,
        check_constrained_response,
        _render_options,
    ),
]
