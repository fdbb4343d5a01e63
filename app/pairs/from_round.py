"""Preference pairs from a closed pairwise evaluation round: every prompt whose judges agreed on
a winner becomes a draft pair, the winner's output chosen and the other rejected.

Agreement is counted over all of a prompt's judgments, ties and "both bad" included (they are
votes for neither system):

- ``unanimous``: every judgment names the same system;
- ``majority``: one system is named by more than half of the judgments (A, A, tie makes A;
  A, tie does not; A, B makes nothing).

A prompt needs at least ``min_judgments`` judgments. By default that is two when the round
asked for two or more judgments per prompt (so that a single verdict on a prompt the other
judges never reached does not pass for agreement), and one when it asked for one.

Making pairs twice from a round makes each pair once: a prompt that already has a pair from
this round is skipped (delete that draft to make it again).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core.provenance import Origin, Provenance
from app.errors import Conflict, InvalidInput, TooLarge
from app.evaluation import rounds
from app.i18n import N_
from app.items.lengths import ContentLimits
from app.locking import locked
from app.models import EvalJudgment, EvalRound, EvalRoundPrompt, Item, Project, User
from app.pairs import sources

Rule = Literal["unanimous", "majority"]
MAX_MIN_JUDGMENTS = 100
RULE_NAMES = {
    "unanimous": N_("unanimous: every judgment names the winner"),
    "majority": N_("majority: more than half of the judgments name the winner"),
}


class PairRule(BaseModel):
    """How agreed a prompt's judges must be for it to become a pair."""

    rule: Rule = Field(
        "unanimous",
        description="`unanimous`: every judgment of the prompt names the same system; "
        "`majority`: more than half of them do (ties and both-bad count as votes for neither).",
    )
    min_judgments: int | None = Field(
        None,
        ge=1,
        le=MAX_MIN_JUDGMENTS,
        description="The fewest judgments a prompt needs; by default 2 when the round asked "
        "for two or more per prompt, else 1.",
    )


def form_bounds(found: EvalRound) -> dict[str, int]:
    """What the rule form says of the fewest judgments: its default for this round and its
    largest value."""
    return {"default": default_min_judgments(found), "max": MAX_MIN_JUDGMENTS}


def default_min_judgments(found: EvalRound) -> int:
    return min(2, found.overlap)


def winner(verdicts: list[str], *, rule: Rule, min_judgments: int) -> str | None:
    """``a`` or ``b`` when the verdicts agree on that system under the rule, else None."""
    total = len(verdicts)
    if total == 0 or total < min_judgments:
        return None
    for side in ("a", "b"):
        votes = verdicts.count(side)
        agreed = votes == total if rule == "unanimous" else 2 * votes > total
        if agreed:
            return side
    return None


@dataclass(frozen=True)
class Agreed:
    """A prompt whose judges agreed: the winning system's side, votes and reasons."""

    prompt: EvalRoundPrompt
    side: str  # "a" or "b"
    votes: int
    total: int
    reasons: list[str]


@dataclass
class Plan:
    """What making pairs from a round would do, prompt by prompt."""

    rule: Rule
    min_judgments: int
    prompts: int = 0
    agreed: list[Agreed] = field(default_factory=list)  # the pairs to make
    no_winner: int = 0  # no agreed winner: ties, both bad, split verdicts or too few judgments
    identical: int = 0  # both outputs are the same text: nothing to prefer
    already: int = 0  # a pair from this round exists for the prompt


@dataclass
class Outcome:
    """What making pairs did."""

    plan: Plan
    made: list[int] = field(default_factory=list)  # the new items' ids
    unusable: int = 0  # the prompt or an output could not be made into a pair


def check_source(found: EvalRound) -> None:
    """Pairs come from the final verdicts of a pairwise round."""
    if found.mode != "pairwise":
        raise Conflict(
            N_(
                "Pairs come from pairwise rounds; a rating round rates each output on its "
                "own. Improve its outputs one by one instead."
            )
        )
    if found.status != "closed":
        raise Conflict(N_("Close the round first: pairs come from its final verdicts."))


def paired_prompts(session: Session, found: EvalRound) -> set[int]:
    """The round prompts that already have a pair made from this round."""
    rows = session.scalars(
        select(Item.provenance["round_prompt_id"].as_integer()).where(
            Item.project_id == found.project_id,
            Item.origin == Origin.judged,
            Item.provenance["round_id"].as_integer() == found.id,
        )
    )
    return {row for row in rows if row is not None}


def _reasons(judgments: list[EvalJudgment], side: str) -> list[str]:
    """The winning judges' reason tags, each once, the most frequent first."""
    counts = Counter(r for j in judgments if j.verdict == side for r in (j.reasons or []))
    return [reason for reason, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def plan(session: Session, *, found: EvalRound, data: PairRule) -> Plan:
    """Which prompts would become pairs under the rule, and why the others would not."""
    check_source(found)
    minimum = data.min_judgments or default_min_judgments(found)
    made = Plan(rule=data.rule, min_judgments=minimum)
    by_prompt: dict[int, list[EvalJudgment]] = {}
    for judgment in session.scalars(
        select(EvalJudgment).where(EvalJudgment.round_id == found.id).order_by(EvalJudgment.id)
    ):
        by_prompt.setdefault(judgment.prompt_id, []).append(judgment)
    done = paired_prompts(session, found)
    for prompt in session.scalars(
        select(EvalRoundPrompt)
        .where(EvalRoundPrompt.round_id == found.id)
        .order_by(EvalRoundPrompt.position)
    ):
        made.prompts += 1
        judgments = by_prompt.get(prompt.id, [])
        verdicts = [j.verdict for j in judgments]
        side = winner(verdicts, rule=data.rule, min_judgments=minimum)
        if prompt.id in done:
            made.already += 1
        elif side is None:
            made.no_winner += 1
        elif prompt.output_a.strip() == prompt.output_b.strip():
            made.identical += 1
        else:
            made.agreed.append(
                Agreed(prompt, side, verdicts.count(side), len(verdicts), _reasons(judgments, side))
            )
    return made


@dataclass
class Batch:
    """What making the pairs of some agreed prompts did."""

    made: list[int] = field(default_factory=list)  # the new items' ids
    unusable: int = 0  # the prompt or an output could not be made into a pair
    already: int = 0  # the prompt got a pair from this round meanwhile


def make_pairs(
    session: Session,
    *,
    found: EvalRound,
    data: PairRule,
    actor: User,
    limits: ContentLimits | None = None,
) -> Outcome:
    """Make a draft pair, authored by ``actor``, of every prompt whose judges agreed, at once
    (a round of a few dozen prompts; a large one goes through the background task)."""
    # Locked: two managers asking at once make each pair once.
    found = locked(session, EvalRound, found.id) or found
    outcome = Outcome(plan=plan(session, found=found, data=data))
    done = make_batch(session, found=found, agreed=outcome.plan.agreed, actor=actor, limits=limits)
    outcome.made, outcome.unusable = done.made, done.unusable
    record_made(session, found=found, actor=actor, counts=counts_of(outcome))
    session.flush()
    return outcome


def make_batch(
    session: Session,
    *,
    found: EvalRound,
    agreed: list[Agreed],
    actor: User,
    limits: ContentLimits | None = None,
) -> Batch:
    """Make a draft pair of each of these agreed prompts. The round stays locked until the
    caller commits, so two makers make each pair once: a prompt that got a pair from this
    round meanwhile is skipped."""
    found = locked(session, EvalRound, found.id) or found
    batch = Batch()
    paired = paired_prompts(session, found) if agreed else set()
    project = session.get_one(Project, found.project_id)
    systems = rounds.systems_of(found)
    todo = [a for a in agreed if a.prompt.id not in paired]
    batch.already = len(agreed) - len(todo)
    snapshots = sources.round_snapshots(session, [a.prompt for a in todo])
    for one in todo:
        prompt = one.prompt
        chosen, rejected = (
            (prompt.output_a, prompt.output_b)
            if one.side == "a"
            else (prompt.output_b, prompt.output_a)
        )
        content = sources.round_prompt_content(prompt, snapshots)
        try:
            item = sources.create_pair(
                session,
                project=project,
                prompt=content,
                chosen=chosen,
                rejected=rejected,
                domain=prompt.domain,
                author=actor,
                limits=limits,
                provenance=Provenance(
                    origin=Origin.judged,
                    round_id=found.id,
                    round_prompt_id=prompt.id,
                    item_id=prompt.item_id,
                    system=systems[0 if one.side == "a" else 1].key,
                    reasons=one.reasons,
                    votes=f"{one.votes} of {one.total}",
                ),
            )
        except (InvalidInput, TooLarge):
            # Checked before anything is written: an over-long output or a prompt that is no
            # pair's skips this prompt alone.
            batch.unusable += 1
            continue
        batch.made.append(item.id)
    return batch


COUNTS = ("rule", "min_judgments", "prompts", "made", "no_winner", "identical", "already",
          "unusable")  # fmt: skip


def counts_of(outcome: Outcome) -> dict[str, Any]:
    """What the audit event says of making pairs."""
    return {
        "rule": outcome.plan.rule,
        "min_judgments": outcome.plan.min_judgments,
        "prompts": outcome.plan.prompts,
        "made": len(outcome.made),
        "no_winner": outcome.plan.no_winner,
        "identical": outcome.plan.identical,
        "already": outcome.plan.already,
        "unusable": outcome.unusable,
    }


def record_made(session: Session, *, found: EvalRound, actor: User, counts: dict[str, Any]) -> None:
    """The audit event of making pairs from the round, once, with its counts."""
    audit.record(
        session,
        actor=actor,
        action="pairs.made_from_round",
        entity_type="eval_round",
        entity_id=found.id,
        after={name: counts[name] for name in COUNTS},
    )
