"""A round's judgments as CSV, in the systems' terms, for spreadsheets and scripts.

Judges' comments are free text, so every cell goes through the audit export's guard against
formula injection (``app.audit.export.csv_rows``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from itertools import chain
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.export import csv_rows
from app.evaluation import rounds
from app.models import EvalJudgment, EvalRound, EvalRoundPrompt, User

HEADER = (
    "round_id",
    "position",
    "item_id",
    "kind",
    "language",
    "domain",
    "judge",
    "verdict",
    "winner",
    "rating_a",
    "rating_b",
    "correct_a",
    "correct_b",
    "reasons",
    "comment",
    "swapped",
    "created_at",
)


def _flag(value: bool | None) -> str:
    return "" if value is None else "true" if value else "false"


def judgments_csv(session: Session, found: EvalRound) -> Iterator[str]:
    """The header, then one line per judgment, by prompt position; ``winner`` names the
    system that won (``12:tuned``, ``reference``) or says ``tie`` or ``both_bad``."""
    a, b = rounds.systems_of(found)
    winner = {"a": a.key, "b": b.key, "tie": "tie", "both_bad": "both_bad"}
    rows = session.execute(
        select(EvalJudgment, EvalRoundPrompt, User.email)
        .join(EvalRoundPrompt, EvalRoundPrompt.id == EvalJudgment.prompt_id)
        .join(User, User.id == EvalJudgment.judge_id)
        .where(EvalJudgment.round_id == found.id)
        .order_by(EvalRoundPrompt.position, EvalJudgment.id)
    )
    lines: Iterator[tuple[Any, ...]] = (
        (
            found.id,
            prompt.position,
            prompt.item_id,
            prompt.kind,
            prompt.language,
            prompt.domain or "",
            email,
            j.verdict,
            winner[j.verdict],
            j.rating_a,
            j.rating_b,
            _flag(j.correct_a),
            _flag(j.correct_b),
            ";".join(j.reasons or []),
            j.comment,
            _flag(j.swapped),
            j.created_at.isoformat(),
        )
        for j, prompt, email in rows
    )
    return csv_rows(chain([HEADER], lines))


def stream_csv(
    open_session: Callable[[], AbstractContextManager[Session]], round_id: int
) -> Iterator[str]:
    """The CSV produced while it is sent: it outlives the request, so it reads through a
    session of its own (``app.state.open_session``)."""
    with open_session() as session:
        found = rounds.get_round(session, round_id=round_id)
        yield from judgments_csv(session, found)


def file_name(found: EvalRound) -> str:
    return f"round-{found.id}-judgments.csv"
