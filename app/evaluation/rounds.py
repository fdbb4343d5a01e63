"""Evaluation rounds: created by a project's manager over two systems' shared prompts,
judged blind, closed to reveal the systems."""

from __future__ import annotations

import random
import secrets
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.evaluation.systems import System, candidates, matches
from app.i18n import N_
from app.members import access as members
from app.members.access import Membership
from app.models import (
    EvalJudgment,
    EvalRound,
    EvalRoundJudge,
    EvalRoundPrompt,
    Item,
    Project,
    ProjectMember,
    ProjectRole,
    User,
)
from app.models.base import utcnow

MAX_PROMPTS = 5000
MAX_OVERLAP = 10


class RoundInput(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    a: str = Field(min_length=1, max_length=40, description="System A: `reference` or `12:tuned`.")
    b: str = Field(min_length=1, max_length=40, description="System B, as system A.")
    mode: Literal["pairwise", "rating"] = "pairwise"
    overlap: int = Field(1, ge=1, le=MAX_OVERLAP, description="Judgments wanted per prompt.")
    judges: Literal["reviewers", "named"] = "reviewers"
    judge_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        default_factory=list, max_length=500
    )
    kind: str = Field("", max_length=16)
    language: str = Field("", max_length=16)
    domain: str = Field("", max_length=100)
    limit: int | None = Field(
        None, ge=1, le=MAX_PROMPTS, description="Judge a seeded random sample of this size."
    )
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


def get_round(session: Session, *, round_id: int) -> EvalRound:
    found = session.get(EvalRound, round_id)
    if found is None:
        raise NotFound(N_("No evaluation round with id %(id)s."), id=round_id)
    return found


def list_rounds(session: Session, *, project_id: int) -> list[EvalRound]:
    return list(
        session.scalars(
            select(EvalRound)
            .where(EvalRound.project_id == project_id)
            .order_by(EvalRound.id.desc())
        )
    )


def systems_of(found: EvalRound) -> tuple[System, System]:
    return System(found.a_job_id, found.a_side), System(found.b_job_id, found.b_side)


def count_prompts(session: Session, *, project: Project, data: RoundInput) -> int:
    """How many prompts the round would have (the form shows it as it changes)."""
    a, b = System.parse(data.a), System.parse(data.b)
    found = matches(
        candidates(session, project_id=project.id, a=a, b=b),
        kind=data.kind,
        language=data.language,
        domain=data.domain,
    )
    return min(len(found), data.limit) if data.limit else len(found)


def _check_judges(session: Session, project: Project, data: RoundInput) -> list[int]:
    if data.judges != "named":
        return []
    wanted = sorted(set(data.judge_ids))
    if not wanted:
        raise InvalidInput(
            N_("Name at least one judge, or let every reviewer judge."),
            errors={"judge_ids": N_("Choose at least one judge.")},
        )
    known = set(
        session.scalars(
            select(ProjectMember.user_id).where(
                ProjectMember.project_id == project.id, ProjectMember.user_id.in_(wanted)
            )
        )
    )
    admins = set(session.scalars(select(User.id).where(User.id.in_(wanted), User.role == "admin")))
    missing = [i for i in wanted if i not in known | admins]
    if missing:
        raise InvalidInput(
            N_("Judges must be members of the project; not a member: %(ids)s."),
            ids=", ".join(map(str, missing)),
            errors={"judge_ids": N_("Not a member of the project.")},
        )
    return wanted


def create_round(session: Session, *, project: Project, data: RoundInput, actor: User) -> EvalRound:
    """A round over the prompts both systems have outputs for, copied as they are now."""
    a, b = System.parse(data.a), System.parse(data.b)
    judge_ids = _check_judges(session, project, data)
    found = matches(
        candidates(session, project_id=project.id, a=a, b=b),
        kind=data.kind,
        language=data.language,
        domain=data.domain,
    )
    if not found:
        raise InvalidInput(
            N_("The two systems have no prompt in common that passes the filter."),
            errors={"b": N_("No prompt in common.")},
        )
    seed = data.seed if data.seed is not None else secrets.randbelow(2**31)
    if data.limit and len(found) > data.limit:
        found = sorted(random.Random(seed).sample(found, data.limit), key=lambda c: c.item_id)
    if len(found) > MAX_PROMPTS:
        raise InvalidInput(
            N_("A round has at most %(max)s prompts; set a sample size."),
            max=MAX_PROMPTS,
            errors={"limit": N_("Too many prompts.")},
        )
    created = EvalRound(
        project_id=project.id,
        name=data.name.strip(),
        mode=data.mode,
        a_job_id=a.job_id,
        a_side=a.side,
        b_job_id=b.job_id,
        b_side=b.side,
        overlap=data.overlap,
        judges=data.judges,
        prompt_filter={
            k: v
            for k, v in {
                "kind": data.kind,
                "language": data.language,
                "domain": data.domain,
                "limit": data.limit,
            }.items()
            if v
        },
        seed=seed,
        created_by=actor.id,
    )
    session.add(created)
    session.flush()
    session.add_all(EvalRoundJudge(round_id=created.id, user_id=i) for i in judge_ids)
    session.add_all(
        EvalRoundPrompt(
            round_id=created.id,
            position=position,
            item_id=c.item_id,
            content_hash=c.content_hash,
            kind=c.kind,
            language=c.language,
            domain=c.domain,
            messages=c.messages,
            constraints=c.constraints,
            reference=c.reference,
            output_a=c.outputs[a],
            output_b=c.outputs[b],
        )
        for position, c in enumerate(found, start=1)
    )
    audit.record(
        session,
        actor=actor,
        action="eval_round.created",
        entity_type="eval_round",
        entity_id=created.id,
        after={
            "name": created.name,
            "a": a.key,
            "b": b.key,
            "mode": created.mode,
            "overlap": created.overlap,
            "judges": created.judges,
            "judge_ids": judge_ids,
            "prompts": len(found),
            "filter": created.prompt_filter,
            "seed": seed,
        },
    )
    session.flush()
    return created


def close_round(
    session: Session, *, found: EvalRound, actor: User, expected_version: int | None = None
) -> EvalRound:
    """Close a round: no more judgments, and the systems' names are shown to everyone."""
    if expected_version is not None and expected_version != found.version:
        raise Conflict(N_("Someone changed this round meanwhile; reload it."), current=found)
    if found.status == "closed":
        raise Conflict(N_("This round is already closed."), current=found)
    found.status = "closed"
    found.closed_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="eval_round.closed",
        entity_type="eval_round",
        entity_id=found.id,
        before={"status": "open"},
        after={"status": "closed", "judgments": judgment_count(session, found.id)},
    )
    session.flush()
    return found


def judgment_count(session: Session, round_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(EvalJudgment).where(EvalJudgment.round_id == round_id)
    )


def prompt_count(session: Session, round_id: int) -> int:
    return session.scalar(
        select(func.count())
        .select_from(EvalRoundPrompt)
        .where(EvalRoundPrompt.round_id == round_id)
    )


def named_judges(session: Session, round_id: int) -> list[int]:
    return list(
        session.scalars(select(EvalRoundJudge.user_id).where(EvalRoundJudge.round_id == round_id))
    )


def may_judge(session: Session, *, found: EvalRound, user: User) -> bool:
    """Every reviewer of the project, or only the people the round names."""
    if found.judges == "named":
        return user.id in named_judges(session, found.id)
    role = members.role_in(session, user=user, project_id=found.project_id)
    return role is not None and role.rank >= ProjectRole.reviewer.rank


def check_open(session: Session, *, found: EvalRound, user: User, member: Membership) -> None:
    """A round is open to the project's reviewers and to its judges (named annotators too)."""
    if not member.at_least(ProjectRole.reviewer) and not may_judge(session, found=found, user=user):
        raise Forbidden(N_("You are not a judge of this round."))


def has_judged(session: Session, *, found: EvalRound, user: User) -> bool:
    return (
        session.scalar(
            select(EvalJudgment.id)
            .where(EvalJudgment.round_id == found.id, EvalJudgment.judge_id == user.id)
            .limit(1)
        )
        is not None
    )


def sees_results(session: Session, *, found: EvalRound, user: User) -> bool:
    """Whether the user may see results and the systems' names.

    A closed round is open to the project's reviewers and to its judges. While a round runs,
    only the project's managers who have not judged it see results: nothing may unblind a
    judge, so a manager who has judged waits for the close like everyone else.
    """
    role = members.role_in(session, user=user, project_id=found.project_id)
    if found.status == "closed":
        if role is not None and role.rank >= ProjectRole.reviewer.rank:
            return True
        return may_judge(session, found=found, user=user)
    if role is None or role.rank < ProjectRole.manager.rank:
        return False
    return not has_judged(session, found=found, user=user)


PAIR_ORIGINS = ("judged", "improved")


def blinds_provenance(session: Session, *, item: Item, user: User | None) -> bool:
    """Whether a pair's provenance must keep quiet to ``user``: they may judge an open round of
    the project that compares a job the pair's outputs came from (its own job, or the jobs of
    the round it was judged in). Which system wrote a text, and which one won, would unblind
    them. Items made otherwise say nothing of systems."""
    if item.origin not in PAIR_ORIGINS or user is None:
        return False
    blinded = blinded_jobs(session, project_id=item.project_id, user=user)
    return bool(blinded & provenance_jobs(session, item.provenance or {}))


def blinded_jobs(session: Session, *, project_id: int, user: User) -> set[int]:
    """The jobs of the project's open rounds that ``user`` may judge without seeing their
    results (a manager who has not judged a round sees its live results anyway)."""
    open_rounds = session.scalars(
        select(EvalRound).where(EvalRound.project_id == project_id, EvalRound.status == "open")
    ).all()
    return {
        job
        for found in open_rounds
        if may_judge(session, found=found, user=user)
        and not sees_results(session, found=found, user=user)
        for job in (found.a_job_id, found.b_job_id)
        if job is not None
    }


def provenance_jobs(session: Session, provenance: dict) -> set[int]:
    """The jobs whose outputs a pair holds: its own job, or the jobs of its round."""
    jobs = {provenance.get("job_id")} - {None}
    if provenance.get("round_id") is not None:
        found = session.get(EvalRound, provenance["round_id"])
        if found is not None:
            jobs |= {found.a_job_id, found.b_job_id} - {None}
    return jobs
