"""Finished jobs with eval outputs in two languages and two domains, and evaluation rounds
over them, made through the real services."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.evaluation import judging, rounds
from app.evaluation.rounds import RoundInput
from app.items.schemas import ItemDraft
from app.models import EvalRound, EvalRoundPrompt, ProjectMember, User
from tests.factories import join, make_user
from tests.job_factories import project_version, run_job


def eval_drafts(n: int = 24) -> list[ItemDraft]:
    """Tasks half in English (domain "travel"), half in Chinese (domain "food")."""
    drafts = []
    for i in range(n):
        if i % 2:
            drafts.append(
                ItemDraft(
                    kind="task",
                    instruction=f"把第{i}句话翻译成英文。",
                    input=f"今天是第{i}天，天气很好。",
                    output=f"Today is day {i} and the weather is fine.",
                    domain="food",
                    language="zh",
                )
            )
        else:
            drafts.append(
                ItemDraft(
                    kind="task",
                    instruction=f"Summarise note {i} in five words.",
                    input=f"Note {i}: the train to the coast leaves at nine every morning.",
                    output=f"Train {i} leaves at nine.",
                    domain="travel",
                    language="en",
                )
            )
    return drafts


def finished_job(session: Session, *, items: int = 24, name: str = "Human eval"):
    """A project whose version holds ``items`` tasks, most of them in the eval split, and a
    job that finished on it (tuned outputs are the references, base outputs "no idea")."""
    project, admin, version = project_version(
        session, name, drafts=eval_drafts(items), eval_fraction=0.9
    )
    job, _ = run_job(session, version, admin)
    return project, admin, job


def make_round(session: Session, project, admin: User, job, **fields) -> EvalRound:
    data = {"name": "Tuned against base", "a": f"{job.id}:tuned", "b": f"{job.id}:base"}
    return rounds.create_round(
        session=session, project=project, data=RoundInput(**{**data, **fields}), actor=admin
    )


def reviewers(session: Session, project, n: int) -> list[User]:
    people = [make_user(session, role="reviewer") for _ in range(n)]
    join(session, project, *people, role="reviewer")
    return people


def judge_all(
    session: Session,
    found: EvalRound,
    judges: Sequence[User],
    verdict: Callable[[User, int], str],
) -> int:
    """Each judge judges every prompt the round hands them; ``verdict(judge, position)``
    says which system wins ("a", "b", "tie" or "both_bad"), whatever side it is shown on."""
    made = 0
    for judge in judges:
        while True:
            seat = judging.seat_of(session, found=found, judge=judge)
            if seat.next_id is None:
                break
            prompt = session.get(judging.EvalRoundPrompt, seat.next_id)
            wanted = verdict(judge, prompt.position)
            choice = wanted
            if wanted in ("a", "b"):
                first_is_a = not seat.walk.swapped[prompt.id]
                choice = "first" if (wanted == "a") == first_is_a else "second"
            judging.submit(
                session=session,
                found=found,
                judge=judge,
                data=judging.JudgmentInput(prompt_id=prompt.id, choice=choice),
            )
            made += 1
    return made


def fuzzed_rounds(session: Session) -> dict:
    """A project of its own with a finished job, a round open for judging (one prompt, room
    for ten judgments: the fuzzing admin's next prompt whatever it sent before) and a closed
    round two people judged. Run before any other job is queued: the finished job is claimed
    as the next one in the queue."""
    project, owner, job = finished_job(session, items=6, name="Fuzzed evaluation")
    judging_round = make_round(session, project, owner, job, limit=1, overlap=10, seed=1)
    closed = make_round(session, project, owner, job, name="Closed", overlap=2, b="reference")
    reviewer = session.scalar(
        select(User)
        .join(ProjectMember, ProjectMember.user_id == User.id)
        .where(ProjectMember.project_id == project.id, ProjectMember.role == "reviewer")
    )
    judge_all(session, closed, [owner, reviewer],
              lambda judge, position: "a" if judge is owner or position % 2 else "tie")  # fmt: skip
    rounds.close_round(session, found=closed, actor=owner)
    (prompt_id,) = session.scalars(
        select(EvalRoundPrompt.id).where(EvalRoundPrompt.round_id == judging_round.id)
    )
    return {"project": project.id, "job": job.id, "open": judging_round.id,
            "closed": closed.id, "prompt": prompt_id}  # fmt: skip


def unfinished_round(session: Session, project, job, item, admin: User) -> EvalRound:
    """An open round over a job that has not finished, which every reviewer of the project
    may judge, with one prompt on ``item``: its rows are made directly, since the services
    take only finished jobs' outputs."""
    found = EvalRound(
        project_id=project.id,
        name="Walked round",
        a_job_id=job.id,
        a_side="tuned",
        b_job_id=job.id,
        b_side="base",
        seed=1,
        created_by=admin.id,
    )
    session.add(found)
    session.flush()
    session.add(
        EvalRoundPrompt(
            round_id=found.id,
            position=1,
            item_id=item.id,
            content_hash=item.content_hash,
            kind="task",
            language="en",
            messages=[{"role": "user", "content": item.instruction}],
            output_a="Blue.",
            output_b="Red.",
        )
    )
    session.flush()
    return found
