"""`studio pairs from-round` on a database of its own per backend: counting, making the pairs
once as the person named (a background task run in the command), the JSON answer, a task
queued for the servers, and a round that is not closed.

The command runs in this process, each run in its own unit of work, as from a shell."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, BackgroundTask, Item, User
from tests.round_pair_factories import judged_round
from tests.test_cli_datasets import seeded
from tests.test_eval_cli import studio


def _seed(session: Session) -> dict:
    """A closed round (prompts 1-2 agreed on B, prompt 3 split) and an open one."""

    def answer(index: int, position: int):
        if position <= 2:
            return "b", ["incomplete"]
        return ("a", []) if index == 0 and position == 3 else ("tie", [])

    project, admin, job, found, (judge, _) = judged_round(
        session, answer, judges=2, overlap=2, items=6, name="Pairs CLI"
    )
    open_round = judged_round(
        session, answer, judges=0, overlap=2, items=4, close=False, name="Open"
    )[3]
    return {"closed": found.id, "open": open_round.id, "judge": judge.email, "job": job.id}


@pytest.fixture(scope="module")
def setup(backend, tmp_path_factory):
    with seeded(backend, tmp_path_factory.mktemp("pairs"), _seed) as ready:
        yield ready


def test_count_then_make_the_pairs_once(setup):
    env, engine, ids = setup
    closed = str(ids["closed"])
    counted = studio(env, "pairs", "from-round", closed, "--dry-run").output.splitlines()
    assert counted == [
        f"round {closed}: would make 2 pairs (unanimous, at least 2 judgments a prompt)",
        "3 prompts without an agreed winner",
        "0 prompts already with a pair from this round",
    ]
    output = studio(env, "pairs", "from-round", closed, "--as", ids["judge"]).output
    assert "2/2" in output  # the progress bar, on stderr
    made = [line for line in output.splitlines() if line.startswith("round ")]
    assert made[0] == (
        f"round {closed}: made 2 pairs as drafts (unanimous, at least 2 judgments a prompt)"
    )
    with Session(engine) as session:
        judge = session.scalar(select(User).where(User.email == ids["judge"]))
        pairs = session.scalars(select(Item).where(Item.origin == "judged")).all()
        assert len(pairs) == 2 and {p.author_id for p in pairs} == {judge.id}
        assert {p.provenance["system"] for p in pairs} == {f"{ids['job']}:base"}
        assert {tuple(p.provenance["reasons"]) for p in pairs} == {("incomplete",)}
        event = session.scalar(
            select(AuditEvent).where(AuditEvent.action == "pairs.made_from_round")
        )
        assert event.actor_id == judge.id and event.after["made"] == 2
    again = studio(env, "pairs", "from-round", closed, "--rule", "majority", "--json").output
    again = json.loads(again[again.index("{") :])
    assert (again["pairs"], again["already"], again["item_ids"]) == (0, 2, [])
    one = json.loads(
        studio(
            env,
            "pairs",
            "from-round",
            closed,
            "--rule",
            "majority",
            "--min-judgments",
            "1",
            "--dry-run",
            "--json",
        ).output  # fmt: skip
    )
    assert (one["pairs"], one["already"], one["min_judgments"]) == (0, 2, 1)


def test_queue_only_leaves_the_task_to_the_servers(setup):
    env, engine, ids = setup
    queued = studio(env, "pairs", "from-round", str(ids["closed"]), "--queue-only").output
    match = re.search(r"background task (\d+)", queued)
    assert match, queued
    with Session(engine) as session:
        task = session.get(BackgroundTask, int(match[1]))
        assert (task.kind, task.state) == ("pairs.from_round", "queued")
        assert task.payload["round_id"] == ids["closed"]


def test_an_open_round_is_refused(setup):
    env, engine, ids = setup
    refused = studio(env, "pairs", "from-round", str(ids["open"]), code=1)
    assert "Close the round first: pairs come from its final verdicts." in refused.output
    missing = studio(env, "pairs", "from-round", "999999", code=1)
    assert "No evaluation round with id 999999." in missing.output
