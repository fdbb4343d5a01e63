"""`studio rounds …` on a database of its own per backend: listing, creating (and counting),
showing, results, closing, exporting and the leaderboard, with their real output.

The commands run in this process (a `studio` process takes a second or two to start); each
one opens its own unit of work on the database, as from a shell."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli import main
from app.config import get_settings
from app.evaluation.export import HEADER
from app.models import AuditEvent, EvalRound, EvalRoundJudge, ProjectMember, User
from tests.eval_factories import finished_job, judge_all, make_round
from tests.test_cli_datasets import seeded


def _seed(session: Session) -> dict:
    """Two judged rounds of tuned against base (one for reading, one to close)."""
    project, admin, job = finished_job(session, items=8, name="Eval CLI")
    reviewer = session.get(
        User,
        session.scalar(
            select(ProjectMember.user_id).where(
                ProjectMember.project_id == project.id, ProjectMember.role == "reviewer"
            )
        ),
    )
    ids = {}
    for name in ("read", "close"):
        found = make_round(session, project, admin, job, name=name, overlap=2)
        judge_all(session, found, [admin, reviewer], lambda judge, position: (
            "b" if judge is admin and position == 1 else "a"))  # fmt: skip
        ids[name] = found.id
    return {"job": job.id, "reviewer": reviewer.email, **ids}


@pytest.fixture(scope="module")
def setup(backend, tmp_path_factory):
    with seeded(backend, tmp_path_factory.mktemp("rounds"), _seed) as ready:
        yield ready


def studio(env: dict, *args: str, code: int = 0):
    get_settings.cache_clear()  # the settings are read from ``env``
    try:
        done = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    assert done.exit_code == code, done.output
    return done


def _event(session: Session, action: str, round_id: int) -> AuditEvent:
    return session.scalar(
        select(AuditEvent).where(AuditEvent.action == action, AuditEvent.entity_id == str(round_id))
    )


def test_list_show_and_results(setup):
    env, engine, ids = setup
    job, read = ids["job"], ids["read"]
    listed = studio(env, "rounds", "list", "Eval CLI").output.splitlines()
    assert listed[0].split()[:6] == ["ID", "STATUS", "MODE", "PROMPTS", "JUDGMENTS", "DONE"]
    (row,) = [line for line in listed if line.split()[0] == str(read)]
    assert f"job {job} tuned vs job {job} base" in row and "open" in row and "100%" in row
    as_json = json.loads(studio(env, "rounds", "list", "Eval CLI", "--json").output)
    (mine,) = [r for r in as_json if r["id"] == read]
    assert mine["a"]["key"] == f"{job}:tuned" and mine["judgments"] == 2 * mine["prompts"]
    shown = studio(env, "rounds", "show", str(read)).output
    assert f"round {read} “read” (open)" in shown
    assert f"systems: A = job {job} tuned, B = job {job} base" in shown
    assert "judges: every reviewer" in shown and ids["reviewer"] in shown
    results = studio(env, "rounds", "results", str(read)).output
    lines = results.splitlines()
    assert lines[0] == f"round {read} (open, not final): A = {job}:tuned, B = {job}:base"
    assert lines[1].split()[:3] == ["GROUP", "N", "A"]
    overall = lines[2].split()
    n = mine["judgments"]
    assert overall[:5] == ["overall", str(n), str(n - 1), "0", "1"]
    groups = [line.split()[:2] for line in lines[3:] if line.startswith(("kind", "lang", "dom"))]
    assert groups == [["kind", "task"], ["language", "en"], ["language", "zh"],
                      ["domain", "food"], ["domain", "travel"]]  # fmt: skip
    assert "agreement (Krippendorff's alpha)" in results
    assert "Wilson score interval, ties count as half a win" in results
    data = json.loads(studio(env, "rounds", "results", str(read), "--json").output)
    assert data["overall"]["n"] == n and data["overall"]["losses"] == 1
    assert [g["group"] for g in data["per_language"]] == ["en", "zh"]
    assert data["disagreements"][0]["position"] == 1
    missing = studio(env, "rounds", "show", "999999", code=1)
    assert "No evaluation round with id 999999." in missing.output


def test_create_counts_and_names_judges(setup):
    env, engine, ids = setup
    job = ids["job"]
    systems = ("--a", f"{job}:tuned", "--b", "reference")
    counted = studio(env, "rounds", "create", "Eval CLI", "--name", "x", *systems,
                     "--language", "zh", "--dry-run")  # fmt: skip
    count = int(counted.output.split()[0])
    assert counted.output == f"{count} prompts in common\n" and count >= 2
    created = studio(env, "rounds", "create", "Eval CLI", "--name", "Chinese only", *systems,
                     "--language", "zh", "--mode", "rating", "--overlap", "2",
                     "--judge", ids["reviewer"], "--limit", "2", "--seed", "5")  # fmt: skip
    round_id = int(created.output.split()[2])
    assert created.output == (
        f"created round {round_id} “Chinese only”: 2 prompts, job {job} tuned vs reference, "
        "rating, overlap 2\n"
    )
    with Session(engine) as session:
        found = session.get(EvalRound, round_id)
        assert (found.judges, found.seed, found.prompt_filter) == (
            "named", 5, {"language": "zh", "limit": 2},
        )  # fmt: skip
        judge = session.scalar(select(EvalRoundJudge.user_id).where(
            EvalRoundJudge.round_id == round_id))  # fmt: skip
        assert session.get(User, judge).email == ids["reviewer"]
        event = _event(session, "eval_round.created", round_id)
        assert event.actor_label and event.after["b"] == "reference"
    same = studio(env, "rounds", "create", "Eval CLI", "--name", "x", "--a", "reference",
                  "--b", "reference", code=1)  # fmt: skip
    assert "error: Choose two different systems." in same.output
    wrong = studio(env, "rounds", "create", "Eval CLI", "--name", "x", *systems,
                   "--overlap", "0", code=2)  # fmt: skip
    assert "--overlap" in wrong.output


def test_close_export_and_leaderboard(setup, tmp_path):
    env, engine, ids = setup
    job, round_id = ids["job"], ids["close"]
    out = tmp_path / "judgments.csv"
    wrote = studio(env, "rounds", "export", str(round_id), "--out", str(out))
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert (
        tuple(rows[0]) == HEADER and wrote.output == f"wrote {len(rows) - 1} judgments to {out}\n"
    )
    winners = [dict(zip(HEADER, row, strict=True))["winner"] for row in rows[1:]]
    assert winners.count(f"{job}:base") == 1 and set(winners) == {f"{job}:tuned", f"{job}:base"}
    printed = studio(env, "rounds", "export", str(round_id)).output
    assert list(csv.reader(io.StringIO(printed))) == rows
    closed = studio(env, "rounds", "close", str(round_id), "--as", ids["reviewer"], code=0)
    assert closed.output == f"closed round {round_id} with {len(rows) - 1} judgments\n"
    with Session(engine) as session:
        event = _event(session, "eval_round.closed", round_id)
        assert event.actor_label == ids["reviewer"]
    again = studio(env, "rounds", "close", str(round_id), code=1)
    assert "This round is already closed." in again.output
    board = studio(env, "rounds", "leaderboard", "Eval CLI").output.splitlines()
    assert board[0] == f"1 closed pairwise rounds, {len(rows) - 1} judgments"
    assert board[1].split() == ["RANK", "SYSTEM", "BASE", "MODEL", "RATING", "95%", "INTERVAL",
                                "JUDGMENTS", "GROUP"]  # fmt: skip
    assert board[2].split()[:3] == ["1", f"{job}:tuned", "tiny"]
    assert board[3].split()[:3] == ["2", f"{job}:base", "tiny"]
    data = json.loads(studio(env, "rounds", "leaderboard", "Eval CLI", "--json").output)
    assert [e["system"] for e in data["entries"]] == [f"{job}:tuned", f"{job}:base"]
    assert data["connected"] and data["entries"][0]["rating"] > data["entries"][1]["rating"]
