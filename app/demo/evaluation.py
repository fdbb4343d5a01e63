"""The demo's human-evaluation rounds, built from the real outputs of the job the demo queues.

Loading the demo queues one short fine-tune of the tiny model on its first version
(:func:`queue_job`). When a worker has run it, :func:`after_job` turns its eval outputs into two
CLOSED pairwise rounds, through the same services a manager and judges use (rounds are created,
judged and closed, with their audit events), so a new user finds filled results and a
leaderboard of three systems (the job's tuned and base sides, and the reference outputs):

- "Demo: tuned against base (demo judgments)";
- "Demo: tuned against reference outputs (demo judgments)".

The second round's agreed verdicts then become draft preference pairs (the reference chosen
over the tuned output, where both judges said so), through the same service as the round
page's "Make preference pairs", so the loop judge → pairs → DPO is there to follow.

The outputs are the model's own; only the judgments are not human, and the rounds say so in
their names and in each judgment's comment. Two demo accounts judge every prompt (overlap 2) by
one deterministic rule over the outputs the round shows them. The score of an output is its
token F1 against the item's reference (``app.core.metrics``, the F1 of the results page, so
the reference outputs score 1):

- the strict judge (the demo project's manager): both scores under ``FLOOR`` → both bad; a gap
  under ``MARGIN`` → tie; otherwise the higher score wins;
- the lenient judge (the demo project's reviewer): the higher score wins however small the gap;
  equal scores → tie; never "both bad".

The judges disagree exactly where the scores are close or both poor, so their agreement is
measured on real differences rather than being perfect by construction.

Which job is the demo's: :func:`queue_job` records an audit event ``demo.job_queued`` on the job
(with the judges' ids). ``JobParams`` forbids unknown keys and is what the trainer receives,
so no demo flag can live in the parameters; the audit trail is append-only, indexed by entity,
and tells anyone reading the job's history that the demo queued it. A retry of the demo's job
counts as the demo's job (the marker is looked up along ``parent_id``), so a failed demo job can
be retried from its page.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import String, cast, exists, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import metrics, protocol
from app.demo import drafting
from app.errors import DomainError
from app.evaluation import judging, rounds
from app.jobs import service as jobs
from app.jobs.forms import PRESETS
from app.models import (
    AuditEvent,
    DatasetVersion,
    EvalRound,
    EvalRoundPrompt,
    Job,
    Project,
    User,
)
from app.pairs import from_round as pairs

log = logging.getLogger("studio")

MARKER = "demo.job_queued"
# The launch form's "tiny" preset, capped at the 400 steps its 50 epochs take on Demo v1, with
# 32 new tokens per output and one checkpoint, at the end: a worker runs it in about 20
# CPU-seconds, its start included (bench/tiny_job.py). Its tuned model gives back the prompts
# it was tuned on (the results page's "Seen in training") but not the held-out ones the rounds
# judge, which a model this small cannot generalise to: the judgments show it.
JOB_PARAMS = protocol.JobParams(
    **{
        **PRESETS["tiny"],
        "max_steps": 400,
        "checkpoint_interval": 400,
        "generation": protocol.GenerationParams(max_new_tokens=32),
    }
)
TUNED_VS_BASE = "Demo: tuned against base (demo judgments)"
TUNED_VS_REFERENCE = "Demo: tuned against reference outputs (demo judgments)"
ROUND_NAMES = (TUNED_VS_BASE, TUNED_VS_REFERENCE)
STRICT, LENIENT = "strict", "lenient"
FLOOR = 0.1  # token F1 under which the strict judge calls an output bad
MARGIN = 0.05  # a gap in token F1 the strict judge calls a tie
SIDES = {"base": "base", "tuned": "tuned", "reference": "reference outputs"}
WAITING = ("queued", "running")


def queue_job(
    *, session: Session, version: DatasetVersion, actor: User, judges: Sequence[User]
) -> Job:
    """Queue the demo's tiny fine-tune on ``version`` and mark it as the demo's; ``judges``
    (strict first) will judge its outputs."""
    job = jobs.launch(
        session=session, version_id=version.id, base_model="tiny", params=JOB_PARAMS, actor=actor
    )
    audit.record(
        session,
        actor=actor,
        action=MARKER,
        entity_type="job",
        entity_id=job.id,
        after={"version": version.id, "judges": [j.id for j in judges], "rule": "token F1"},
    )
    return job


def token_f1(output: str, reference: str) -> float:
    return metrics.token_prf(output, reference)[2]


def verdict(rule: str, a: float, b: float) -> str:
    """A demo judge's verdict in system terms (a, b, tie, both_bad) from the two scores."""
    if rule == STRICT:
        if a < FLOOR and b < FLOOR:
            return "both_bad"
        if abs(a - b) < MARGIN:
            return "tie"
    elif math.isclose(a, b, abs_tol=1e-9):
        return "tie"
    return "a" if a > b else "b"


def _lineage(session: Session, job: Job) -> list[int]:
    """The job's id and those of the jobs it retries (none for a first attempt: no query)."""
    ids, parent = [job.id], job.parent_id
    while parent is not None and parent not in ids and len(ids) < 50:  # a bounded walk
        ids.append(parent)
        parent = session.scalar(select(Job.parent_id).where(Job.id == parent))
    return ids


def _marker(session: Session, ids: list[int]) -> AuditEvent | None:
    return session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.entity_type == "job",
            AuditEvent.entity_id.in_([str(i) for i in ids]),
            AuditEvent.action == MARKER,
        )
        .limit(1)
    )


def after_job(
    session: Session, job: Job, *, artifacts_root: str | Path | None = None
) -> list[EvalRound]:
    """Build the demo's rounds when ``job`` is the demo's and has just succeeded (and, given
    the artifact store, queue the drafting of its prompts' outputs with the tuned model);
    nothing otherwise (one indexed look-up for any other job). Never fails the job's
    completion: a round that cannot be built is logged and left out."""
    if job.status != "succeeded":
        return []
    ids = _lineage(session, job)
    marker = _marker(session, ids)
    if marker is None:
        return []
    built = session.scalar(
        select(exists().where(EvalRound.a_job_id.in_(ids), EvalRound.name.in_(ROUND_NAMES)))
    )
    if built:
        return []
    if artifacts_root is not None and job.created_by is not None:
        drafting.queue_drafts(session, job, session.get(User, job.created_by), artifacts_root)
    try:
        with session.begin_nested():
            return _build(session, job, (marker.after or {}).get("judges", []))
    except DomainError as error:  # e.g. no eval prompt, or a judge no longer a member
        log.warning("The demo's evaluation rounds for job %s were not built: %s", job.id, error)
    except Exception:  # the demo's rounds must never lose a worker's report of success
        log.exception("The demo's evaluation rounds for job %s were not built.", job.id)
    return []


def _build(session: Session, job: Job, judge_ids: list[int]) -> list[EvalRound]:
    judges = [u for u in (session.get(User, i) for i in judge_ids[:2]) if u is not None]
    if len(judges) < 2:
        log.warning("The demo's job %s names fewer than two judges; no rounds.", job.id)
        return []
    actor = session.get(User, job.created_by) if job.created_by else judges[0]
    project = session.get_one(Project, job.project_id)
    made = []
    for name, other in ((TUNED_VS_BASE, f"{job.id}:base"), (TUNED_VS_REFERENCE, "reference")):
        data = rounds.RoundInput(
            name=name,
            a=f"{job.id}:tuned",
            b=other,
            overlap=len(judges),
            judges="named",
            judge_ids=[j.id for j in judges],
            seed=job.id,
        )
        found = rounds.create_round(session, project=project, data=data, actor=actor)
        for rule, judge in zip((STRICT, LENIENT), judges, strict=True):
            _judge(session, found, judge, rule)
        rounds.close_round(session, found=found, actor=actor)
        made.append(found)
    pairs.make_pairs(session, found=made[-1], data=pairs.PairRule(), actor=actor)
    return made


def _judge(session: Session, found: EvalRound, judge: User, rule: str) -> None:
    """Every prompt of the round, in the judge's own walk, as the rule decides."""
    seat = judging.seat_of(session, found=found, judge=judge)
    prompts = {
        p.id: p
        for p in session.scalars(
            select(EvalRoundPrompt).where(EvalRoundPrompt.round_id == found.id)
        )
    }
    a_side, b_side = SIDES[found.a_side], SIDES[found.b_side]
    for prompt_id in seat.walk.order:
        prompt = prompts[prompt_id]
        a = token_f1(prompt.output_a, prompt.reference)
        b = token_f1(prompt.output_b, prompt.reference)
        decided = verdict(rule, a, b)
        judging.submit(
            session,
            found=found,
            judge=judge,
            data=judging.JudgmentInput(
                prompt_id=prompt_id,
                choice=_choice(decided, seat.walk.swapped[prompt_id]),
                reasons=["wrong"] if decided == "both_bad" else [],
                comment=(
                    f"Demo judgment by rule ({rule} judge): token F1 against the reference,"
                    f" {a_side} {a:.2f}, {b_side} {b:.2f}."
                ),
            ),
        )


def _choice(decided: str, swapped: bool) -> str:
    """A verdict in system terms as the judging screen's choice (A shown second if swapped)."""
    if decided in ("tie", "both_bad"):
        return decided
    return "first" if (decided == "a") != swapped else "second"


def pending_demo_job(session: Session, project_id: int) -> Job | None:
    """The demo's job (or the retry standing for it) while it is queued or running: what the
    project's evaluation page names while the demo's rounds wait for it."""
    job = session.scalar(
        select(Job)
        .join(
            AuditEvent,
            (AuditEvent.entity_type == "job") & (AuditEvent.entity_id == cast(Job.id, String)),
        )
        .where(AuditEvent.action == MARKER, Job.project_id == project_id)
        .order_by(Job.id)
        .limit(1)
    )
    while job is not None and job.status in ("failed", "cancelled"):
        job = session.scalar(
            select(Job).where(Job.parent_id == job.id).order_by(Job.id.desc()).limit(1)
        )
    return job if job is not None and job.status in WAITING else None
