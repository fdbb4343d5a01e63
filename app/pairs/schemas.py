"""JSON shapes of preference pairs made from judgments and from model outputs; shared by the
API and the `studio pairs` command."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.pairs.from_round import PairRule, Plan, Rule


class PairsIn(PairRule):
    """How agreed a prompt's judges must be for it to become a pair."""


class PairsPreviewOut(BaseModel):
    rule: Rule
    min_judgments: int = Field(description="The fewest judgments a prompt needed.")
    prompts: int = Field(description="The round's prompts.")
    pairs: int = Field(description="Pairs that making them now would make.")
    no_winner: int = Field(
        description="Prompts without an agreed winner: ties, both bad, split verdicts or too "
        "few judgments. They never make pairs."
    )
    identical: int = Field(description="Prompts whose two outputs are the same text.")
    already: int = Field(description="Prompts that already have a pair from this round.")

    @classmethod
    def of(cls, plan: Plan) -> PairsPreviewOut:
        return cls(
            rule=plan.rule,
            min_judgments=plan.min_judgments,
            prompts=plan.prompts,
            pairs=len(plan.agreed),
            no_winner=plan.no_winner,
            identical=plan.identical,
            already=plan.already,
        )


class PairsOut(PairsPreviewOut):
    """What making pairs made: the result of the background task `pairs.from_round`."""

    pairs: int = Field(description="Pairs made, as drafts authored by the caller.")
    unusable: int = Field(
        description="Agreed prompts skipped because their text could not make a pair (an "
        "output over the length limit, or a prompt no pair can hold)."
    )
    item_ids: list[int] = Field(
        description="The new pairs' item ids, in the round's order (the first 100)."
    )

    @classmethod
    def of_result(cls, result: dict) -> PairsOut:
        """The result of a finished ``pairs.from_round`` task."""
        return cls.model_validate({k: v for k, v in result.items() if k in cls.model_fields})


class _ImproveIn(BaseModel):
    chosen: str = Field(
        description="Your better response: the pair's chosen one; the model's output becomes "
        "the rejected one. Empty, or the model's output unchanged, answers 422.",
    )


class JobImproveIn(_ImproveIn):
    side: Literal["base", "tuned"] = Field(
        "tuned", description="Which of the job's outputs to improve: the base or the tuned model's."
    )


class RoundImproveIn(_ImproveIn):
    side: Literal["a", "b"] = Field(
        description="Which output of the round's prompt to improve: system A's or system B's."
    )
