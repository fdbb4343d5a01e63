"""Making pairs from a round as a background task, on databases whose transactions really
commit: progress over the agreed prompts, a cancel between batches keeping the pairs made, and
an attempt handed back midway that goes on without making any pair twice."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Pause
from app.background.runner import Runner
from app.db import begin_for_write
from app.models import AuditEvent, BackgroundTask, Item
from app.pairs import task as pairs_task
from app.pairs.from_round import PairRule
from app.tasks import KINDS
from tests.round_pair_factories import judged_round

BATCH = 2


def _answer(index: int, position: int) -> tuple[str, list[str]]:
    return ("a", ["incomplete"]) if position != 2 else ("tie", [])


def _queued(engine) -> tuple[int, int]:
    """A closed round whose judges agreed on every prompt but one, and a queued task."""
    with Session(engine, expire_on_commit=False) as session:
        begin_for_write(session)
        project, admin, job, found, _ = judged_round(session, _answer, judges=2, overlap=2, items=8)
        task = pairs_task.start(session=session, found=found, data=PairRule(), actor=admin)
        session.commit()
        return found.id, task.id


def _runner(engine, **options) -> Runner:
    return Runner(
        lambda: Session(engine, expire_on_commit=False), KINDS, batch_rows=BATCH, **options
    )


def _task(engine, task_id: int) -> BackgroundTask:
    with Session(engine) as session:
        return session.get(BackgroundTask, task_id)


def _pairs(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Item).where(Item.origin == "judged"))


def _events(engine) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == "pairs.made_from_round"))
        )


def _wait_for_batches(engine, task_id: int, batches: int) -> None:
    deadline = time.monotonic() + 60  # a hang guard, not a timing
    while _task(engine, task_id).checkpoint.get("batches", 0) < batches:
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def test_the_task_counts_the_agreed_prompts_and_makes_them_a_batch_at_a_time(committed):
    round_id, task_id = _queued(committed)
    assert _runner(committed).run_one() == task_id
    task = _task(committed, task_id)
    agreed = task.result["pairs"]
    assert task.state == "done" and agreed >= 3
    assert (task.done, task.total) == (agreed, agreed)
    assert task.checkpoint["batches"] == -(-agreed // BATCH)
    assert task.result["no_winner"] == 1 and task.result["round_id"] == round_id
    assert len(task.result["item_ids"]) == agreed == _pairs(committed)
    (event,) = _events(committed)
    assert event.after["made"] == agreed and event.after["no_winner"] == 1


def test_a_cancel_stops_between_batches_keeping_those_done(committed):
    _round_id, task_id = _queued(committed)
    runner = _runner(committed, pause=Pause(after_batch=1, seconds=30))
    worker = threading.Thread(target=runner.run_one, kwargs={"heartbeat": True})
    worker.start()
    try:
        _wait_for_batches(committed, task_id, 1)
        with Session(committed) as session:
            begin_for_write(session)
            queue.request_cancel(session, task=session.get(BackgroundTask, task_id), actor=None)
            session.commit()
    finally:
        runner.stop()
        worker.join(60)
    if _task(committed, task_id).state == "queued":  # the stop won: handed back, then cancelled
        _runner(committed).run_one()
    task = _task(committed, task_id)
    assert (task.state, task.done) == ("cancelled", BATCH)
    assert task.total > BATCH
    assert _pairs(committed) == BATCH
    assert _events(committed) == []  # recorded once, when the last batch is made


def test_a_task_handed_back_goes_on_without_making_a_pair_twice(committed):
    _round_id, task_id = _queued(committed)
    first = _runner(committed, pause=Pause(after_batch=1, seconds=60))
    worker = threading.Thread(target=first.run_one, kwargs={"heartbeat": True})
    worker.start()
    _wait_for_batches(committed, task_id, 1)
    first.stop()
    worker.join(60)
    task = _task(committed, task_id)
    assert (task.state, task.checkpoint["made"]) == ("queued", BATCH)
    assert _pairs(committed) == BATCH
    assert _runner(committed).run_one() == task_id
    task = _task(committed, task_id)
    assert task.state == "done", task.error
    agreed = task.total
    assert task.result["pairs"] == agreed == _pairs(committed)  # each prompt once
    assert task.result["already"] == 0 and len(task.result["item_ids"]) == agreed
    with Session(committed) as session:
        prompts = session.scalars(
            select(Item.provenance["round_prompt_id"].as_integer()).where(Item.origin == "judged")
        ).all()
    assert len(prompts) == len(set(prompts)) == agreed
    (event,) = _events(committed)
    assert event.after["made"] == agreed
