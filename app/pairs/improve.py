"""Improve a model output: a person writes a better response to the prompt a model answered,
and the pair (theirs chosen, the model's output rejected) lands as a draft for review.

Who may improve what is who may see the output: a job's eval outputs are for the project's
reviewers (as the job's results page is); a round's outputs for whoever sees the round's
results, once it is closed. While a round runs no pair is made from it: a draft that names
the system it improved on would tell a judge which output was whose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import constraints as registry
from app.core.provenance import Origin, Provenance
from app.errors import Conflict, Forbidden, InvalidInput
from app.evaluation import rounds
from app.i18n import N_
from app.items import repository
from app.items.lengths import ContentLimits, ContentTooLong
from app.models import EvalPrediction, EvalRound, EvalRoundPrompt, Item, Project, User
from app.pairs import sources
from app.pairs.sources import Source

HIDDEN = N_("The results of this round are hidden from you until it closes.")


def check_round(session: Session, *, found: EvalRound, user: User) -> None:
    """A round's outputs are improved by those who see its results, once it is closed."""
    if not rounds.sees_results(session, found=found, user=user):
        raise Forbidden(HIDDEN)
    if found.status != "closed":
        raise Conflict(
            N_(
                "Improve a round's outputs once it closes: until then a pair made from them "
                "could tell its judges which system wrote what."
            )
        )


def check_response(source: Source, chosen: str) -> None:
    """A better response is written, and is not the model's output again."""
    if not chosen.strip():
        raise InvalidInput(
            N_("Write your better response before saving."),
            errors={"chosen": N_("Write a better response.")},
        )
    if chosen.strip() == source.output.strip():
        raise InvalidInput(
            N_("Your response is the model's output unchanged; change it to make it better."),
            errors={"chosen": N_("Same as the model's output.")},
        )


def improve(
    session: Session,
    *,
    source: Source,
    chosen: str,
    actor: User,
    limits: ContentLimits | None = None,
) -> Item:
    """Save the draft pair: ``chosen`` (the person's) against the model's output."""
    check_response(source, chosen)
    project = session.get_one(Project, source.project_id)
    provenance = Provenance(
        origin=Origin.improved,
        job_id=source.job_id,
        item_id=source.item_id,
        system=source.system.key,
        round_id=source.round_id,
        round_prompt_id=source.round_prompt_id,
    )
    try:
        item = sources.create_pair(
            session,
            project=project,
            prompt=source.prompt,
            chosen=chosen,
            rejected=source.output,
            domain=source.domain,
            author=actor,
            limits=limits,
            provenance=provenance,
        )
    except ContentTooLong as error:
        # The person's response is the pair's chosen output: show the limit on their box.
        error.errors = {"chosen" if k == "output" else k: v for k, v in error.errors.items()}
        raise
    audit.record(
        session,
        actor=actor,
        action="pairs.output_improved",
        entity_type="item",
        entity_id=item.id,
        after=provenance.details(),
    )
    return item


def earlier(session: Session, *, source: Source, drafts_of: int | None) -> list[int]:
    """The pairs already made by improving this output (the same system on the same item),
    that the reader may see."""
    if source.item_id is None:
        match = Item.provenance["round_prompt_id"].as_integer() == source.round_prompt_id
    else:
        match = Item.provenance["item_id"].as_integer() == source.item_id
    query = select(Item.id).where(
        Item.project_id == source.project_id,
        Item.origin == Origin.improved,
        Item.provenance["system"].as_string() == source.system.key,
        match,
    )
    return list(session.scalars(repository.visible(query, drafts_of).order_by(Item.id)))


def next_job_item(session: Session, *, job_id: int, item_id: int) -> int | None:
    """The eval item after this one among the job's outputs."""
    return session.scalar(
        select(EvalPrediction.item_id)
        .where(
            EvalPrediction.job_id == job_id,
            EvalPrediction.split == "eval",
            EvalPrediction.item_id > item_id,
        )
        .order_by(EvalPrediction.item_id)
        .limit(1)
    )


def next_round_prompt(session: Session, *, found: EvalRound, prompt_id: int) -> int | None:
    """The prompt after this one in the round."""
    current = sources.round_prompt(session, found=found, prompt_id=prompt_id)
    return session.scalar(
        select(EvalRoundPrompt.id)
        .where(EvalRoundPrompt.round_id == found.id, EvalRoundPrompt.position > current.position)
        .order_by(EvalRoundPrompt.position)
        .limit(1)
    )


@dataclass(frozen=True)
class Check:
    """One constraint checked on a response, for the page's side-by-side verdicts."""

    id: str
    label: dict[str, str]
    passed: bool
    message: Any
    args: dict[str, Any]


def checks(constraints: list[dict[str, Any]], text: str) -> list[Check]:
    """Each constraint of the prompt checked on ``text`` (none for a constraint the registry
    no longer knows, as the job results do)."""
    try:
        verdicts = registry.check_all(constraints, text)
    except (registry.UnknownConstraintError, registry.ConstraintParamsError):
        return []
    return [
        Check(
            id=ref["id"],
            label=dict(registry.get_spec(ref["id"]).label),
            passed=verdict.passed,
            message=verdict.message,
            args=verdict.args,
        )
        for ref, verdict in verdicts
    ]
