"""``detectable_content:*`` and ``punctuation:no_comma``: placeholders, a postscript, no commas.

Verdicts follow IFEval's ``instructions.py`` (google-research, Apache-2.0). In text with CJK
characters the full-width comma ``，`` counts as a comma too.

The placeholder and postscript checks run in time linear in the response: IFEval's ``\\[.*?\\]`` and
``\\s*p\\.\\s?s\\..*$`` (``re.MULTILINE``) are quadratic on a line of ``[`` or on runs of spaces;
the scans below give the same counts and verdicts.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

from app.core.cjk import has_cjk

from .base import (
    N_,
    ConstraintSpec,
    Count,
    NoParams,
    Params,
    Verdict,
    count_field,
    ngettext,
    templates,
)


class NumberPlaceholders(Params):
    num_placeholders: Count = count_field(1_000)


class Postscript(Params):
    postscript_marker: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)
    ]


def count_placeholders(response: str) -> int:
    """How many matches ``re.findall(r"\\[.*?\\]", response)`` finds: from a ``[`` to the first
    ``]`` after it on the same line, then on from there.

    A ``[`` whose first ``]`` lies past a newline fails, and so does every ``[`` before that
    newline; the first ``]`` is kept until a ``[`` lies past it, so nothing is scanned twice.
    """
    count, pos, close = 0, 0, -1
    while (start := response.find("[", pos)) != -1:
        if close <= start:
            close = response.find("]", start + 1)
            if close == -1:
                break
        newline = response.find("\n", start, close)
        if newline != -1:
            pos = newline + 1
            continue
        count += 1
        pos = close + 1
    return count


def check_number_placeholders(response: str, *, num_placeholders: int) -> Verdict:
    count = count_placeholders(response)
    return Verdict(
        count >= num_placeholders,
        ngettext(
            "Found {count} [placeholder]; needs at least {limit}.",
            "Found {count} [placeholders]; needs at least {limit}.",
        ),
        {"count": count, "limit": num_placeholders},
    )


def postscript_pattern(marker: str) -> str:
    """IFEval's patterns, without their ``\\s*`` head and ``.*$`` tail (with ``re.MULTILINE``
    those match wherever the marker does, so only the marker decides): spaces allowed inside
    ``P.S.`` and ``P.P.S``; other markers literal."""
    if marker == "P.P.S":
        return r"p\.\s?p\.\s?s"
    if marker == "P.S.":
        return r"p\.\s?s\."
    return re.escape(marker.lower())


def check_postscript(response: str, *, postscript_marker: str) -> Verdict:
    if re.search(postscript_pattern(postscript_marker), response.lower()):
        return Verdict(
            True, N_('Found a postscript starting with "{marker}".'), {"marker": postscript_marker}
        )
    return Verdict(
        False, N_('No postscript starting with "{marker}" found.'), {"marker": postscript_marker}
    )


def check_no_comma(response: str) -> Verdict:
    commas = ",，" if has_cjk(response) else ","
    count = sum(response.count(c) for c in commas)
    if count:
        return Verdict(
            False, ngettext("Found {count} comma.", "Found {count} commas."), {"count": count}
        )
    return Verdict(True, N_("No commas found."), {})


SPECS = [
    ConstraintSpec(
        "detectable_content:number_placeholders",
        {"en": "Placeholders in [brackets]", "zh": "[方括号] 占位符"},
        NumberPlaceholders,
        check_number_placeholders,
        templates(
            "The response must contain at least {num_placeholders} placeholders "
            "represented by square brackets, such as [address].",
            "回答必须包含至少 {num_placeholders} 个用方括号表示的占位符，例如 [地址]。",
        ),
    ),
    ConstraintSpec(
        "detectable_content:postscript",
        {"en": "Postscript", "zh": "附言"},
        Postscript,
        check_postscript,
        templates(
            "At the end of your response, please explicitly add a postscript starting "
            "with {postscript_marker}",
            "请在回答末尾明确添加一段以“{postscript_marker}”开头的附言。",
        ),
    ),
    ConstraintSpec(
        "punctuation:no_comma",
        {"en": "No commas", "zh": "不用逗号"},
        NoParams,
        check_no_comma,
        templates(
            "In your entire response, refrain from the use of any commas.",
            "整个回答中不得使用任何逗号。",
        ),
    ),
]
