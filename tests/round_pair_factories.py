"""Closed evaluation rounds judged as a test says, with the judges' reasons, for making
preference pairs from them; made through the real services."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from app.evaluation import judging, rounds
from app.items.schemas import ItemDraft
from app.models import EvalRound, EvalRoundPrompt, User
from tests.dataset_factories import DRAFTS
from tests.eval_factories import eval_drafts, make_round, reviewers
from tests.job_factories import project_version, run_job

# (verdict in the systems' terms, reason tags) for the judge at ``index`` on the prompt at
# ``position``.
Answer = Callable[[int, int], tuple[str, list[str]]]

# Conversations for the mixed eval prompts (a version keeps one of each kind for training).
CONVERSATIONS = [
    ItemDraft(
        kind="conversation",
        system="Answer in one sentence.",
        turns=[
            {"role": "user", "content": f"What is the capital of {country}?"},
            {"role": "assistant", "content": f"{capital}."},
            {"role": "user", "content": "And how many people live there?"},
            {"role": "assistant", "content": f"About {people} million."},
        ],
    )
    for country, capital, people in (
        ("France", "Paris", 2),
        ("Italy", "Rome", 3),
        ("Peru", "Lima", 10),
    )
]


def judge_each(session: Session, found: EvalRound, judges: Sequence[User], answer: Answer) -> int:
    """Each judge judges every prompt the round hands them, in their own order and on their
    own sides; ``answer`` says the verdict in the systems' terms and the reasons."""
    made = 0
    for index, judge in enumerate(judges):
        while True:
            seat = judging.seat_of(session, found=found, judge=judge)
            if seat.next_id is None:
                break
            prompt = session.get_one(EvalRoundPrompt, seat.next_id)
            verdict, reasons = answer(index, prompt.position)
            choice = verdict
            if verdict in ("a", "b"):
                first_is_a = not seat.walk.swapped[prompt.id]
                choice = "first" if (verdict == "a") == first_is_a else "second"
            judging.submit(
                session=session,
                found=found,
                judge=judge,
                data=judging.JudgmentInput(prompt_id=prompt.id, choice=choice, reasons=reasons),
            )
            made += 1
    return made


def judged_round(
    session: Session,
    answer: Answer,
    *,
    judges: int = 3,
    overlap: int = 3,
    items: int = 12,
    mixed: bool = False,
    close: bool = True,
    name: str = "Pairs",
    **fields,
):
    """A finished job's project, its admin, the job, a round of its tuned (A) against its
    base (B) outputs, and ``judges`` new reviewers who judged it by ``answer`` (then it is
    closed). ``mixed``: the eval prompts are tasks, constraints, few-shot examples and
    conversations instead of tasks in two languages."""
    drafts = [*DRAFTS, *CONVERSATIONS] if mixed else eval_drafts(items)
    project, admin, version = project_version(session, name, drafts=drafts, eval_fraction=0.9)
    job, _ = run_job(session, version, admin)
    people = reviewers(session, project, judges)
    found = make_round(session, project, admin, job, overlap=overlap, **fields)
    judge_each(session, found, people, answer)
    if close:
        rounds.close_round(session, found=found, actor=admin)
    return project, admin, job, found, people
