"""A round's judgments as CSV: the header, one line per judgment in the systems' terms with
the winning system's key, ratings in rating rounds, and no cell a spreadsheet would run."""

from __future__ import annotations

import csv
import io
from contextlib import nullcontext

from sqlalchemy import select

from app.evaluation import judging
from app.evaluation.export import HEADER, judgments_csv, stream_csv
from app.models import EvalJudgment, ProjectMember, User
from tests.eval_factories import finished_job, judge_all, make_round
from tests.security.test_csv_injection import FORMULA_STARTS, PAYLOADS


def _rows(lines) -> list[dict[str, str]]:
    text = "".join(lines)
    reader = csv.reader(io.StringIO(text))
    assert tuple(next(reader)) == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in reader]


def _judges(session, project, admin) -> list[User]:
    """The project's admin and its reviewer: both may judge a round open to reviewers."""
    reviewer_id = session.scalar(
        select(ProjectMember.user_id).where(
            ProjectMember.project_id == project.id, ProjectMember.role == "reviewer"
        )
    )
    return [admin, session.get(User, reviewer_id)]


def test_pairwise_and_rating_rounds_export_in_the_systems_terms(db_session):
    project, admin, job = finished_job(db_session, items=8)
    judges = _judges(db_session, project, admin)
    found = make_round(db_session, project, admin, job, overlap=2)
    # Admin says tuned (A) wins everywhere; the reviewer says base (B) wins on position 1.
    made = judge_all(
        db_session, found, judges, lambda j, pos: "b" if j is judges[1] and pos == 1 else "a"
    )
    mine = judging.seat_of(db_session, found=found, judge=admin).walk.order[0]
    judging.submit(
        session=db_session,
        found=found,
        judge=admin,
        data=judging.JudgmentInput(
            prompt_id=mine,
            choice="both_bad",
            reasons=["wrong", "unsafe"],
            comment=PAYLOADS[0],
            version=1,
        ),
    )
    rows = _rows(judgments_csv(db_session, found))
    assert len(rows) == made
    assert [int(r["position"]) for r in rows] == sorted(int(r["position"]) for r in rows)
    assert {r["round_id"] for r in rows} == {str(found.id)}
    assert {r["judge"] for r in rows} == {j.email for j in judges}
    assert {r["kind"] for r in rows} == {"task"} and {r["language"] for r in rows} == {"en", "zh"}
    winners = {(r["verdict"], r["winner"]) for r in rows}
    assert winners == {("a", f"{job.id}:tuned"), ("b", f"{job.id}:base"), ("both_bad", "both_bad")}
    stored = db_session.scalars(select(EvalJudgment).where(EvalJudgment.round_id == found.id))
    assert sorted(r["swapped"] for r in rows) == sorted(
        "true" if j.swapped else "false" for j in stored
    )
    assert {r["swapped"] for r in rows} == {"true", "false"}
    (bad,) = [r for r in rows if r["verdict"] == "both_bad"]
    assert bad["reasons"] == "unsafe;wrong" and bad["comment"] == "'" + PAYLOADS[0]
    assert bad["rating_a"] == bad["correct_a"] == "" and bad["created_at"].startswith("20")
    assert not [c for r in rows for c in r.values() if c.startswith(FORMULA_STARTS)]
    # The rating round: each output's rating and correctness flag, in the systems' terms.
    rated = make_round(db_session, project, admin, job, mode="rating", limit=2, seed=3)
    seat = judging.seat_of(db_session, found=rated, judge=admin)
    while seat.next_id is not None:
        judging.submit(
            session=db_session,
            found=rated,
            judge=admin,
            data=judging.JudgmentInput(
                prompt_id=seat.next_id, rating_first=4, rating_second=2, correct_first=False
            ),
        )
        seat = judging.seat_of(db_session, found=rated, judge=admin)
    rows = _rows(stream_csv(lambda: nullcontext(db_session), rated.id))
    assert len(rows) == 2
    for row in rows:
        first_is_a = row["swapped"] == "false"
        assert (row["rating_a"], row["rating_b"]) == (("4", "2") if first_is_a else ("2", "4"))
        assert row["winner"] == (f"{job.id}:tuned" if first_is_a else f"{job.id}:base")
        assert (row["correct_a"] if first_is_a else row["correct_b"]) == "false"
        assert (row["correct_b"] if first_is_a else row["correct_a"]) == ""


def test_an_empty_round_exports_its_header_and_reference_is_a_system(db_session):
    project, admin, job = finished_job(db_session, items=4)
    found = make_round(db_session, project, admin, job, b="reference", limit=1)
    assert _rows(judgments_csv(db_session, found)) == []
    judge_all(db_session, found, [admin], lambda judge, position: "b")
    (row,) = _rows(judgments_csv(db_session, found))
    assert (row["verdict"], row["winner"], row["item_id"]) == ("b", "reference", row["item_id"])
    assert row["item_id"].isdigit() and row["domain"] in ("travel", "food")
