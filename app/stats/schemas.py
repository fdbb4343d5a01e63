"""JSON shapes for a project's dashboard: the same figures the statistics page draws."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.stats.service import AnnotatorStats, ReviewerStats


class AnnotatorOut(BaseModel):
    email: str
    written: int
    submitted: int = Field(description="Written items that left draft.")
    approved: int
    decided: int = Field(description="Review decisions on their items.")
    approval_rate: float | None
    median_hours_to_decision: float | None
    reasons: dict[str, int] = Field(
        description="Why their items were not approved: reason → count."
    )

    @classmethod
    def of(cls, row: AnnotatorStats) -> AnnotatorOut:
        return cls(
            email=row.email,
            written=row.written,
            submitted=row.submitted,
            approved=row.approved,
            decided=row.decided,
            approval_rate=row.approval_rate,
            median_hours_to_decision=row.median_hours,
            reasons=dict(row.reasons.most_common()),
        )


class ReviewerOut(BaseModel):
    email: str
    decisions: dict[str, int] = Field(description="approve, request_changes, reject → count.")
    shared: int = Field(description="Decisions on versions another reviewer also decided on.")
    agreed: int = Field(description="Of those, the ones every other reviewer decided alike.")
    agreement: float | None

    @classmethod
    def of(cls, row: ReviewerStats) -> ReviewerOut:
        return cls(
            email=row.email,
            decisions=dict(row.decisions),
            shared=row.shared,
            agreed=row.agreed,
            agreement=row.agreement,
        )


class ThroughputOut(BaseModel):
    """One value per day, oldest first, over the last 30 days (UTC)."""

    days: list[str]
    created: list[int]
    decided: list[int]
    approved: list[int]


class BalanceWarning(BaseModel):
    field: str
    value: str
    share: float


class ContentOut(BaseModel):
    """The content figures of the project's current items (``split`` counts them by status)."""

    total: int
    counts: dict[str, dict[str, int]] = Field(
        description="kind, domain, difficulty, language, annotator, split → value → count."
    )
    words: dict[str, int] = Field(description="Items per word-count bin.")
    tokens: dict[str, int] = Field(
        description="Items per token-count bin; a conversation counts its system prompt and "
        "every turn. Empty without a tokenizer."
    )
    conversations: int = Field(0, description="Conversation items.")
    turns: dict[str, int] = Field(
        default_factory=dict,
        description="Conversations per turns-per-conversation bin; empty without conversations.",
    )
    turn_tokens: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="user, assistant → conversation turns per token-count bin (a final turn "
        "not yet written is left out). Empty without conversations or a tokenizer.",
    )
    distinct_1: float | None
    distinct_2: float | None
    leading_words: list[tuple[str, int]] = Field(description="The ten commonest first words.")
    warnings: list[BalanceWarning] = Field(
        description="Kinds and domains under balance_share of the items."
    )
    balance_share: float

    @classmethod
    def of(cls, figures: dict[str, Any]) -> ContentOut:
        return cls.model_validate(figures)


class ModelWorkOut(BaseModel):
    approved: int = Field(description="Approved items.")
    drafted: int = Field(description="Approved items whose output a model drafted.")
    drafted_share: float | None = Field(description="drafted / approved.")
    mean_edit_ratio: float | None = Field(
        description="Mean word-level edit ratio of those drafted outputs: 0 kept as the model "
        "wrote them, 1 rewritten."
    )
    augmented: int = Field(description="Approved items augmented from another item.")
    generated: int = Field(description="Approved items whose instruction a model proposed.")


class ProjectStatsOut(BaseModel):
    by_status: dict[str, int]
    throughput: ThroughputOut
    annotators: list[AnnotatorOut]
    reviewers: list[ReviewerOut]
    content: ContentOut
    model_work: ModelWorkOut
