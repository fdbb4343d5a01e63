"""Human evaluation: rounds of blind judgments comparing two systems' outputs on prompts.

A *system* is one side of a finished job (its base or its tuned outputs) or the reference
outputs of the eval items. A round copies the prompts and both outputs when it is created, so
its judgments always refer to exactly what the judges saw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

SIDES = ("base", "tuned", "reference")
MODES = ("pairwise", "rating")
JUDGE_POLICIES = ("reviewers", "named")
VERDICTS = ("a", "b", "tie", "both_bad")


class EvalRound(Base):
    __tablename__ = "eval_rounds"
    __table_args__ = (
        CheckConstraint("mode IN ('pairwise', 'rating')", name="mode"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("judges IN ('reviewers', 'named')", name="judges"),
        CheckConstraint("a_side IN ('base', 'tuned', 'reference')", name="a_side"),
        CheckConstraint("b_side IN ('base', 'tuned', 'reference')", name="b_side"),
        CheckConstraint("overlap >= 1", name="overlap"),
        Index("ix_eval_rounds_project", "project_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16), default="pairwise")
    # System A and system B: a job's base or tuned outputs, or the reference outputs (no job).
    a_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    a_side: Mapped[str] = mapped_column(String(16))
    b_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    b_side: Mapped[str] = mapped_column(String(16))
    overlap: Mapped[int] = mapped_column(default=1)
    judges: Mapped[str] = mapped_column(String(16), default="reviewers")
    # The prompt filter the round was made with (kind, language, domain, limit), for the record.
    prompt_filter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Seeds each judge's prompt order and which side each output is shown on.
    seed: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class EvalRoundJudge(Base):
    """A person named to judge a round (when the round is not open to every reviewer)."""

    __tablename__ = "eval_round_judges"
    __table_args__ = (UniqueConstraint("round_id", "user_id", name="uq_eval_round_judges_round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("eval_rounds.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class EvalRoundPrompt(Base):
    """One prompt of a round, with both systems' outputs as they were when it was made."""

    __tablename__ = "eval_round_prompts"
    __table_args__ = (UniqueConstraint("round_id", "position", name="uq_eval_round_prompts_round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("eval_rounds.id", ondelete="CASCADE"))
    position: Mapped[int]
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"), index=True
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16))
    domain: Mapped[str | None] = mapped_column(String(100))
    # The messages the model saw ({"role", "content"} each), and the item's constraints.
    messages: Mapped[list[Any]]
    constraints: Mapped[list[Any]] = mapped_column(default=list)
    reference: Mapped[str] = mapped_column(Text, default="")
    output_a: Mapped[str] = mapped_column(Text)
    output_b: Mapped[str] = mapped_column(Text)


class EvalJudgment(Base):
    """One judge's verdict on one prompt of a round.

    ``verdict`` is in the systems' terms (``a`` means system A's output is better), whatever
    side of the screen it was shown on; ``swapped`` records that A was shown on the right. A
    rating round stores a 1–5 rating (and an optional correctness flag) per output, and the
    verdict follows from the two ratings.
    """

    __tablename__ = "eval_judgments"
    __table_args__ = (
        UniqueConstraint("prompt_id", "judge_id", name="uq_eval_judgments_prompt_judge"),
        CheckConstraint("verdict IN ('a', 'b', 'tie', 'both_bad')", name="verdict"),
        CheckConstraint("rating_a IS NULL OR rating_a BETWEEN 1 AND 5", name="rating_a"),
        CheckConstraint("rating_b IS NULL OR rating_b BETWEEN 1 AND 5", name="rating_b"),
        Index("ix_eval_judgments_round_judge", "round_id", "judge_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("eval_rounds.id", ondelete="CASCADE"))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("eval_round_prompts.id", ondelete="CASCADE"))
    judge_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    verdict: Mapped[str] = mapped_column(String(16))
    rating_a: Mapped[int | None]
    rating_b: Mapped[int | None]
    correct_a: Mapped[bool | None]
    correct_b: Mapped[bool | None]
    swapped: Mapped[bool]
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
