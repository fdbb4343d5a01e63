"""Where a preference pair's prompt and its model output come from: a prompt of an evaluation
round, or a finished job's eval prediction.

A pair takes the prompt part of the item the model answered (``kinds.pair_of``), so it keeps
the item's structure (instruction and input, demonstrations, a conversation's earlier turns)
rather than flattened messages. For a round prompt that is the revision of its item with the
content hash the round copied; when that revision is gone (the item was deleted) the pair is
rebuilt from the messages the judges saw: the system message as the system prompt, the rest as
turns ending with the user, the requirements already stated in them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import prompts
from app.core.kinds import CONTENT_FIELDS, ItemContent, ItemKind, pair_of
from app.core.provenance import Provenance
from app.errors import InvalidInput, NotFound
from app.evaluation import rounds
from app.evaluation.systems import System
from app.i18n import N_
from app.items import service as items
from app.items.lengths import ContentLimits
from app.items.schemas import ItemDraft
from app.jobs.results import snapshots_of
from app.models import (
    EvalPrediction,
    EvalRound,
    EvalRoundPrompt,
    Item,
    ItemRevision,
    Job,
    Project,
    User,
)

JOB_SIDES = ("base", "tuned")
ROUND_SIDES = ("a", "b")


@dataclass(frozen=True)
class Source:
    """A model output and the prompt it answered: what an improved pair rejects."""

    project_id: int
    prompt: ItemContent | None  # the content whose prompt part a pair takes
    messages: list[dict[str, str]]  # the prompt as the model saw it
    constraints: list[dict[str, Any]]
    output: str  # the model's output
    system: System
    language: str
    domain: str | None
    job_id: int | None = None
    item_id: int | None = None
    round_id: int | None = None
    round_prompt_id: int | None = None


def prompt_from_messages(
    messages: list[dict[str, Any]], constraints: list[Any], language: str
) -> ItemContent | None:
    """A pair's prompt rebuilt from chat messages (None when they cannot be one: a pair's
    turns start with the user, alternate and end with the user)."""
    rest = [dict(m) for m in messages]
    system = ""
    if rest and rest[0].get("role") == "system":
        system = str(rest.pop(0).get("content") or "")
    try:
        return ItemContent.model_validate(
            {
                "kind": ItemKind.preference,
                "instruction": "",
                "system": system,
                "turns": [{"role": m.get("role"), "content": m.get("content")} for m in rest],
                "constraints": constraints,
                # The messages already state the requirements; do not state them twice.
                "state_constraints": False,
                "language": language or "en",
            }
        )
    except ValidationError:
        return None


def round_snapshots(
    session: Session, prompts_: Iterable[EvalRoundPrompt]
) -> dict[tuple[int, str], dict[str, Any]]:
    """(item id, content hash) → the latest revision snapshot with that hash, for the items
    the round prompts were copied from."""
    wanted = {(p.item_id, p.content_hash) for p in prompts_ if p.item_id is not None}
    item_ids = sorted({item_id for item_id, _ in wanted})
    found: dict[tuple[int, str], tuple[int, dict[str, Any]]] = {}
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        rows = session.execute(
            select(
                ItemRevision.item_id,
                ItemRevision.content_hash,
                ItemRevision.version,
                ItemRevision.snapshot,
            ).where(ItemRevision.item_id.in_(chunk))
        )
        for item_id, digest, version, snapshot in rows:
            key = (item_id, digest)
            if key in wanted and (key not in found or found[key][0] < version):
                found[key] = (version, snapshot)
    return {key: snapshot for key, (_version, snapshot) in found.items()}


def round_prompt_content(
    prompt: EvalRoundPrompt, snapshots: dict[tuple[int, str], dict[str, Any]]
) -> ItemContent | None:
    """The content whose prompt part a pair over this round prompt takes."""
    snapshot = snapshots.get((prompt.item_id, prompt.content_hash)) if prompt.item_id else None
    if snapshot is not None:
        try:
            return ItemContent.from_row(snapshot)
        except ValidationError:
            pass  # saved under older rules: the messages the judges saw still stand
    return prompt_from_messages(prompt.messages, prompt.constraints or [], prompt.language)


def make_pair(prompt: ItemContent | None, chosen: str, rejected: str) -> ItemContent:
    """The pair over ``prompt``; InvalidInput with a sentence when it cannot be one."""
    if prompt is None:
        raise InvalidInput(N_("This prompt cannot be made into a preference pair."))
    try:
        return pair_of(prompt, chosen, rejected)
    except ValidationError as error:
        raise InvalidInput(
            N_("This prompt cannot be made into a preference pair: %(problem)s"),
            problem=error.errors()[0]["msg"],
        ) from None


def create_pair(
    session: Session,
    *,
    project: Project,
    prompt: ItemContent | None,
    chosen: str,
    rejected: str,
    domain: str | None,
    author: User,
    provenance: Provenance,
    limits: ContentLimits | None = None,
) -> Item:
    """Write the draft pair over ``prompt`` through the items service (revision, search terms,
    near-duplicate keys, ``item.created``), as the editor would."""
    pair = make_pair(prompt, chosen, rejected)
    draft = ItemDraft.model_validate({**pair.model_dump(mode="json"), "domain": domain})
    return items.create_item(
        session=session,
        project=project,
        draft=draft,
        author=author,
        limits=limits,
        provenance=provenance,
    )


def prediction(session: Session, *, job: Job, item_id: int) -> EvalPrediction:
    found = session.scalar(
        select(EvalPrediction)
        .where(
            EvalPrediction.job_id == job.id,
            EvalPrediction.split == "eval",  # an eval item's output, never the seen sample's
            EvalPrediction.item_id == item_id,
        )
        .order_by(EvalPrediction.id)
        .limit(1)
    )
    if found is None:
        raise NotFound(N_("Job %(job)s has no output for item %(item)s."), job=job.id, item=item_id)
    return found


def job_source(session: Session, *, job: Job, item_id: int, side: str) -> Source:
    """A job's base or tuned output on one eval item, with the prompt its version pinned."""
    if side not in JOB_SIDES:
        raise InvalidInput(
            N_("Choose the base or the tuned output."), errors={"side": N_("Invalid.")}
        )
    found = prediction(session, job=job, item_id=item_id)
    snapshot = snapshots_of(session, job.dataset_version_id, [item_id]).get(item_id)
    if snapshot is None:
        # Outputs come for the items the job's version pinned; one that is not pinned there
        # (a worker reported an item of another version) is read as the item is now.
        item = session.get_one(Item, item_id)
        snapshot = {name: getattr(item, name) for name in (*CONTENT_FIELDS, "domain")}
    content = ItemContent.from_row(snapshot)
    return Source(
        project_id=job.project_id,
        prompt=content,
        messages=[dict(m) for m in prompts.prompt_messages(content)],
        constraints=[c.model_dump() for c in content.constraints],
        output=found.base_output if side == "base" else found.tuned_output,
        system=System(job.id, side),
        language=content.language,
        domain=snapshot.get("domain"),
        job_id=job.id,
        item_id=item_id,
    )


def round_prompt(session: Session, *, found: EvalRound, prompt_id: int) -> EvalRoundPrompt:
    prompt = session.get(EvalRoundPrompt, prompt_id)
    if prompt is None or prompt.round_id != found.id:
        raise NotFound(N_("No prompt %(id)s in this round."), id=prompt_id)
    return prompt


def model_sides(found: EvalRound) -> list[str]:
    """The sides of a round ("a", "b") whose outputs a model wrote: not the reference outputs,
    which are a person's."""
    systems = rounds.systems_of(found)
    return [
        side
        for side, system in zip(ROUND_SIDES, systems, strict=True)
        if system.side != "reference"
    ]


def round_source(session: Session, *, found: EvalRound, prompt_id: int, side: str) -> Source:
    """System A's or B's output on one prompt of a round, with the prompt its judges saw."""
    if side not in ROUND_SIDES:
        raise InvalidInput(N_("Choose output A or output B."), errors={"side": N_("Invalid.")})
    prompt = round_prompt(session, found=found, prompt_id=prompt_id)
    system = rounds.systems_of(found)[ROUND_SIDES.index(side)]
    if side not in model_sides(found):
        raise InvalidInput(
            N_(
                "The reference output is a person's answer, not a model's; improve it in its "
                "item's editor."
            ),
            errors={"side": N_("Not a model's output.")},
        )
    return Source(
        project_id=found.project_id,
        prompt=round_prompt_content(prompt, round_snapshots(session, [prompt])),
        messages=[dict(m) for m in prompt.messages],
        constraints=list(prompt.constraints or []),
        output=prompt.output_a if side == "a" else prompt.output_b,
        system=system,
        language=prompt.language,
        domain=prompt.domain,
        job_id=system.job_id,
        item_id=prompt.item_id,
        round_id=found.id,
        round_prompt_id=prompt.id,
    )
