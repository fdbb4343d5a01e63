"""Making preference pairs from a closed pairwise round, as a background task: the request
checks the round, the rule and the maker, and queues it; the task makes the pairs of the
agreed prompts in the round's order, a committed batch at a time, with the same rules as
``from_round.make_pairs``.

The counts of the first plan (prompts without a winner, with the same text twice, already
paired) are kept in the checkpoint with the pairs made so far and the last prompt done, so a
resumed or retried attempt goes on after the last committed batch; a prompt that got a pair
from this round meanwhile is skipped, never paired twice. A cancel stops it between batches,
the batches done staying done. The audit event ``pairs.made_from_round`` is recorded once,
with the last batch."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Kind, TaskContext
from app.errors import Forbidden
from app.evaluation import rounds
from app.i18n import N_
from app.items.lengths import ContentLimits
from app.members import access as members
from app.models import BackgroundTask, EvalRound, ProjectRole, User
from app.pairs import from_round
from app.pairs.from_round import PairRule

KIND = "pairs.from_round"
PHASE = "making pairs"
# The most pairs a committed batch makes (a pair takes a few milliseconds).
BATCH = 200
# The result lists the first new items' ids, and counts them all.
KEEP_IDS = 100


def check_maker(
    session: Session, found: EvalRound, actor: User | None, *, operator: bool = False
) -> User:
    """Only the round's project's managers (and admins) make pairs of it; the command line's
    operator may name any active user as the pairs' author."""
    if actor is None or not actor.is_active:
        raise Forbidden(N_("Your role in this project does not allow this."))
    role = members.role_in(session, user=actor, project_id=found.project_id)
    if not operator and (role is None or role.rank < ProjectRole.manager.rank):
        raise Forbidden(N_("Your role in this project does not allow this."))
    return actor


def start(
    *,
    session: Session,
    found: EvalRound,
    data: PairRule,
    actor: User,
    limits: ContentLimits | None = None,
    operator: bool = False,
) -> BackgroundTask:
    """Check the round (closed, pairwise) and the maker, then queue the task. ``operator``:
    queued from the command line, whose ``--as`` names the author whatever their role."""
    from_round.check_source(found)
    check_maker(session, found, actor, operator=operator)
    minimum = data.min_judgments or from_round.default_min_judgments(found)
    return queue.enqueue(
        session,
        kind=KIND,
        project_id=found.project_id,
        payload={
            "round_id": found.id,
            "rule": data.rule,
            "min_judgments": minimum,
            "actor_id": actor.id,
            "limits": asdict(limits) if limits else None,
            "operator": operator,
        },
        actor=actor,
        details={"round": found.id, "rule": data.rule, "min_judgments": minimum},
    )


def run(session: Session, ctx: TaskContext) -> dict[str, Any]:
    """The agreed prompts in the round's order, a committed batch at a time, from the last
    batch an earlier attempt committed."""
    payload, done = ctx.payload, dict(ctx.checkpoint)
    if done.get("finished"):  # stopped just after its last batch
        return _result(payload, done)
    found = rounds.get_round(session, round_id=payload["round_id"])
    from_round.check_source(found)
    actor = session.get(User, payload["actor_id"])
    actor = check_maker(session, found, actor, operator=payload.get("operator", False))
    limits = ContentLimits(**payload["limits"]) if payload.get("limits") else ContentLimits.of()
    rule = PairRule(rule=payload["rule"], min_judgments=payload["min_judgments"])
    plan = from_round.plan(session, found=found, data=rule)
    if "counts" not in done:  # the first plan's counts; later attempts see their own pairs
        done = {
            "counts": {
                "prompts": plan.prompts,
                "no_winner": plan.no_winner,
                "identical": plan.identical,
                "already": plan.already,
                "total": len(plan.agreed),
            },
            "after": None,
            "done": 0,
            "made": 0,
            "unusable": 0,
            "already": 0,
            "item_ids": [],
        }
    after = tuple(done["after"]) if done["after"] else None
    todo = [a for a in plan.agreed if after is None or _key(a) > after]
    total = done["counts"]["total"]
    size = max(1, min(BATCH, ctx.batch_rows))
    ctx.progress(PHASE, done["done"], total)
    while True:
        batch, todo = todo[:size], todo[size:]
        made = from_round.make_batch(session, found=found, agreed=batch, actor=actor, limits=limits)
        done = {
            **done,
            "after": list(_key(batch[-1])) if batch else done["after"],
            "done": min(done["done"] + len(batch), total),
            "made": done["made"] + len(made.made),
            "unusable": done["unusable"] + made.unusable,
            "already": done["already"] + made.already,
            "item_ids": (done["item_ids"] + made.made)[:KEEP_IDS],
            "finished": not todo,
        }
        if not todo:
            from_round.record_made(session, found=found, actor=actor, counts=_counts(payload, done))
        # The last batch ends the task once begun: a cancel then comes too late.
        ctx.commit(session, done, PHASE, done["done"], total, cancellable=bool(todo))
        if not todo:
            return _result(payload, done)


def _key(agreed: from_round.Agreed) -> tuple[int, int]:
    return (agreed.prompt.position, agreed.prompt.id)


def _counts(payload: dict[str, Any], done: dict[str, Any]) -> dict[str, Any]:
    counts = done["counts"]
    return {
        "rule": payload["rule"],
        "min_judgments": payload["min_judgments"],
        "prompts": counts["prompts"],
        "made": done["made"],
        "no_winner": counts["no_winner"],
        "identical": counts["identical"],
        "already": counts["already"] + done["already"],
        "unusable": done["unusable"],
    }


def _result(payload: dict[str, Any], done: dict[str, Any]) -> dict[str, Any]:
    """The pairs made, with the API's names (``pairs``: how many; ``item_ids``: the first
    ones)."""
    counts = _counts(payload, done)
    return {
        "round_id": payload["round_id"],
        **{name: value for name, value in counts.items() if name != "made"},
        "pairs": counts["made"],
        "item_ids": done["item_ids"],
    }


def settle(session: Session, ctx: TaskContext, state: str, message: str) -> None:
    """Nothing to mark: the pairs committed stay drafts, and the task says how far it got."""


def reopen(session: Session, ctx: TaskContext) -> None:
    """Nothing to put back: a retry goes on after the last committed batch."""


KINDS = {KIND: Kind(run=run, settle=settle, reopen=reopen)}
