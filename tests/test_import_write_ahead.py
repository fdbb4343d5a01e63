"""On PostgreSQL an all-or-nothing import's check pass writes its first batches as it checks
them, in a transaction it commits only once the whole file is known good: the same rows as
ever, and nothing at all when a row after them has a problem. SQLite writes nothing ahead (its
write lock would be held for the whole pass); the same tests hold there with the usual batches."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.imports import passes, writer
from app.models import Item
from tests.factories import make_user
from tests.import_factories import import_file
from tests.review_factories import make_project

BATCH = 3  # rows a checkpoint commits: three batches (nine rows) are written ahead


@pytest.fixture
def setup(db_session, monkeypatch):
    monkeypatch.setattr(writer, "BATCH", 2)  # several writes a batch, each behind the last
    monkeypatch.setattr(writer, "SQLITE_BATCH", 2)
    admin = make_user(db_session, role="admin")
    return make_project(db_session, admin, name="Write ahead"), admin


def lines(rows: list[dict]) -> bytes:
    return "\n".join(json.dumps(row) for row in rows).encode()


def numbered(n: int) -> list[dict]:
    return [{"instruction": f"Say {i}.", "input": "", "output": str(i)} for i in range(1, n + 1)]


def run(db_session, tmp_path, project, admin, rows):
    commits = []

    def commit(tally, phase, done, total):
        commits.append((done, total, tally["created"]))
        db_session.commit()

    run = {"commit": commit, "batch_rows": BATCH}
    job = import_file(db_session, tmp_path, project, admin, "rows.jsonl", lines(rows), run=run)
    return job, commits


def stored(db_session, project) -> list[str]:
    return list(
        db_session.scalars(
            select(Item.instruction).where(Item.project_id == project.id).order_by(Item.id)
        )
    )


def test_the_rows_past_the_ones_written_ahead_are_committed_a_batch_at_a_time(
    db_session, tmp_path, setup
):
    project, admin = setup
    rows = numbered(14)
    job, commits = run(db_session, tmp_path, project, admin, rows)
    assert (job.state, job.created_items) == ("done", 14)
    if db_session.get_bind().dialect.name == "postgresql":
        assert passes.AHEAD_BATCHES * BATCH == 9
        assert commits == [(9, 14, 9), (12, 14, 12)]  # the first nine at the check's end
    else:
        assert commits == [(3, 14, 3), (6, 14, 6), (9, 14, 9), (12, 14, 12)]
    db_session.commit()
    assert stored(db_session, project) == [row["instruction"] for row in rows]


@pytest.mark.parametrize("bad_row", [2, 8, 13])
def test_a_problem_after_rows_written_ahead_leaves_nothing(db_session, tmp_path, setup, bad_row):
    """Row 2: within the first batch; row 8: among the batches written ahead; row 13: after
    them, when all nine are written."""
    project, admin = setup
    rows = numbered(14)
    rows[bad_row - 1] = {"instruction": "", "input": "", "output": "x"}
    job, commits = run(db_session, tmp_path, project, admin, rows)
    assert job.state == "failed"
    assert [p["number"] for p in job.errors] == [bad_row]
    assert job.options["mode"] == "all_or_nothing" and job.schema == "alpaca"
    assert commits == []
    db_session.commit()
    count = select(func.count()).select_from(Item).where(Item.project_id == project.id)
    assert db_session.scalar(count) == 0
    # The same file, corrected, imports whole: nothing of the failed attempt is in the way.
    rows[bad_row - 1] = {"instruction": f"Say {bad_row}.", "input": "", "output": str(bad_row)}
    again, _ = run(db_session, tmp_path / "again", project, admin, rows)
    assert (again.state, again.created_items) == ("done", 14)
