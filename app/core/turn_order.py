"""The order of a conversation's turns: who speaks when, and where the order goes wrong.

A conversation starts with the user, alternates and ends with the assistant; a preference
pair's prompt turns start with the user, alternate and end with the user, whose last turn its
two responses answer. Problems are sentences shown to annotators as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """Who speaks a turn of a conversation; the system prompt is a field of its own."""

    user = "user"
    assistant = "assistant"


def turn_text(turn: Any) -> str | None:
    """The words of a turn (a ``Turn`` or the dict stored for one); None when it has none."""
    if hasattr(turn, "content") and not isinstance(turn, Mapping):
        return turn.content
    if isinstance(turn, Mapping) and isinstance(turn.get("content"), str):
        return turn["content"]
    return None


def turn_order_problem(roles: list[str]) -> str | None:
    """Why a conversation's roles are out of order, as a sentence; None when they are not."""
    if not roles:
        return "A conversation needs at least one user turn and one assistant turn."
    if roles[0] != Role.user:
        return "A conversation starts with a user turn."
    for number, (before, role) in enumerate(zip(roles, roles[1:], strict=False), start=2):
        if role == before:
            return f"Turn {number} is a second {role} turn in a row; user and assistant alternate."
    if roles[-1] != Role.assistant:
        return "A conversation ends with an assistant turn."
    return None


def pair_turn_problem(roles: list[str]) -> str | None:
    """Why a pair's prompt turns are out of order: they start with the user, alternate and end
    with the user, whose last turn the two responses answer."""
    if not roles:
        return None
    if roles[0] != Role.user:
        return "A pair's turns start with a user turn."
    for number, (before, role) in enumerate(zip(roles, roles[1:], strict=False), start=2):
        if role == before:
            return f"Turn {number} is a second {role} turn in a row; user and assistant alternate."
    if roles[-1] != Role.user:
        return "A pair's turns end with the user turn that the two responses answer."
    return None


def turn_order_fault(roles: list[str]) -> int | None:
    """The 0-based turn that :func:`turn_order_problem` is about; None when it is about the
    conversation as a whole (no turns, or no assistant turn at the end: a turn is missing)."""
    if not roles:
        return None
    if roles[0] != Role.user:
        return 0
    for index in range(1, len(roles)):
        if roles[index] == roles[index - 1]:
            return index
    return None
