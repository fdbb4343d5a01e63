"""``startend:*`` and ``combination:*``: end phrase, quotation marks, two responses, repeat first.

Verdicts follow IFEval's ``instructions.py`` (google-research, Apache-2.0): the end phrase is
compared case-insensitively after trimming (and after stripping ``"`` from the response's ends);
two responses are split on ``******`` and must be distinct and non-empty. In text with CJK
characters Chinese quotation marks ``“…”`` also wrap a response.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from app.core.cjk import has_cjk

from .base import N_, ConstraintSpec, NoParams, Params, Verdict, ngettext, templates


class EndChecker(Params):
    end_phrase: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ]


class RepeatPrompt(Params):
    prompt_to_repeat: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)
    ]


def check_end_checker(response: str, *, end_phrase: str) -> Verdict:
    value = response.strip().strip('"').lower()
    if value.endswith(end_phrase.strip().lower()):
        return Verdict(True, N_('The response ends with "{phrase}".'), {"phrase": end_phrase})
    return Verdict(False, N_('The response does not end with "{phrase}".'), {"phrase": end_phrase})


def check_quotation(response: str) -> Verdict:
    value = response.strip()
    wrapped = len(value) > 1 and value[0] == '"' and value[-1] == '"'
    if not wrapped and has_cjk(value):
        wrapped = len(value) > 1 and value[0] == "“" and value[-1] == "”"
    if wrapped:
        return Verdict(True, N_("The response is wrapped in double quotation marks."), {})
    return Verdict(False, N_("The response is not wrapped in double quotation marks."), {})


def check_two_responses(response: str) -> Verdict:
    parts = response.split("******")
    answers = []
    for index, part in enumerate(parts):
        if part.strip():
            answers.append(part)
        elif index not in (0, len(parts) - 1):
            return Verdict(False, N_("An empty response sits between ****** dividers."), {})
    if len(answers) != 2:
        return Verdict(
            False,
            ngettext(
                "Found {count} response separated by ******; needs exactly 2.",
                "Found {count} responses separated by ******; needs exactly 2.",
            ),
            {"count": len(answers)},
        )
    if answers[0].strip() == answers[1].strip():
        return Verdict(False, N_("The two responses are identical."), {})
    return Verdict(True, N_("Found two different responses."), {})


def check_repeat_prompt(response: str, *, prompt_to_repeat: str) -> Verdict:
    if response.strip().lower().startswith(prompt_to_repeat.strip().lower()):
        return Verdict(True, N_("The response starts by repeating the request."), {})
    return Verdict(False, N_("The response does not start with the request, word for word."), {})


SPECS = [
    ConstraintSpec(
        "startend:end_checker",
        {"en": "End with a phrase", "zh": "以指定短语结尾"},
        EndChecker,
        check_end_checker,
        templates(
            "Finish your response with this exact phrase {end_phrase}. "
            "No other words should follow this phrase.",
            "请用这句话原样结束回答：{end_phrase}。这句话之后不要再有其他内容。",
        ),
    ),
    ConstraintSpec(
        "startend:quotation",
        {"en": "Wrap in double quotation marks", "zh": "用双引号括起"},
        NoParams,
        check_quotation,
        templates(
            "Wrap your entire response with double quotation marks.", "用双引号把整个回答括起来。"
        ),
    ),
    ConstraintSpec(
        "combination:two_responses",
        {"en": "Two different responses", "zh": "两个不同的回答"},
        NoParams,
        check_two_responses,
        templates(
            "Give two different responses. Responses and only responses should be "
            "separated by 6 asterisk symbols: ******.",
            "给出两个不同的回答。两个回答之间（且仅在回答之间）用 6 个星号分隔：******。",
        ),
    ),
    ConstraintSpec(
        "combination:repeat_prompt",
        {"en": "Repeat the request first", "zh": "先重复请求"},
        RepeatPrompt,
        check_repeat_prompt,
        templates(
            "First repeat the request word for word without change, then give your "
            "answer (1. do not say any words or characters before repeating the "
            "request; 2. the request you need to repeat does not include this sentence)",
            "先一字不改地重复请求，再给出回答（1. 重复请求之前不要说任何字词或字符；"
            "2. 需要重复的请求不包括这句话）",
        ),
    ),
]
