"""Finished jobs with eval outputs in two languages and two domains, and evaluation rounds
over them, made through the real services."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from app.datasets import freezing
from app.datasets.versions import VersionFilter
from app.evaluation import judging, rounds
from app.evaluation.rounds import RoundInput
from app.items.schemas import ItemDraft
from app.models import EvalRound, User
from tests.dataset_factories import approved_project
from tests.factories import join, make_user
from tests.job_factories import run_job


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
    project, admin, _ = approved_project(session, drafts=eval_drafts(items), name=name)
    version = freezing.create_version(
        session=session,
        project=project,
        name="v1",
        f=VersionFilter(),
        actor=admin,
        eval_fraction=0.9,
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
