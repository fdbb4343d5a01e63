"""`studio import` (run here with a progress bar, or queued for the background loops),
`studio worker --background` and `studio export`, as real processes on a real database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import migrate
from app.datasets.freezing import create_version
from app.datasets.versions import VersionFilter
from app.db import make_engine
from app.models import BackgroundTask, ImportJob, Item, User
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.dbs import fresh_database
from tests.factories import make_user
from tests.live_server import STUDIO


@pytest.fixture
def setup(backend, tmp_path):
    """A migrated database with an admin and an empty project called Numbers."""
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            with Session(engine, expire_on_commit=False) as session:
                admin = make_user(session, role="admin", email="root@example.org")
                project = projects.create_project(
                    session=session, data=ProjectInput(name="Numbers"), actor=admin
                )
                session.commit()
            env = {
                **os.environ,
                "STUDIO_DATABASE_URL": url,
                "STUDIO_VAR_DIR": str(tmp_path / "var"),
                "STUDIO_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
                "STUDIO_BACKGROUND_BATCH_ROWS": "7",
                "STUDIO_BACKGROUND_POLL_SECONDS": "0.1",
            }
            yield env, engine, project.id
        finally:
            engine.dispose()


def studio(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [STUDIO, *args], env=env, cwd="/", capture_output=True, text=True, timeout=120
    )


def _file(tmp_path, rows: list[str]):
    path = tmp_path / "numbers.jsonl"
    path.write_text("\n".join(rows))
    return path


def _numbers(n: int) -> list[str]:
    return [
        json.dumps({"instruction": f"Write {i} in words.", "output": f"#{i}"}) for i in range(n)
    ]


def _count(engine, project_id) -> int:
    with Session(engine) as session:
        return session.scalar(
            select(func.count()).select_from(Item).where(Item.project_id == project_id)
        )


def test_import_runs_here_with_progress_and_reports(setup, tmp_path):
    env, engine, project_id = setup
    done = studio(env, "import", str(_file(tmp_path, _numbers(30))), "--project", "Numbers")
    assert done.returncode == 0, done.stderr
    assert "imported 30 items, skipped 0 already present, 0 rows with problems" in done.stdout
    assert "] 30/30" in done.stderr  # the progress bar, drawn to its end
    assert _count(engine, project_id) == 30
    again = studio(env, "import", str(_file(tmp_path, _numbers(30))), "--project", "Numbers")
    assert "imported 0 items, skipped 30 already present" in again.stdout  # idempotent


def test_a_problem_row_in_all_or_nothing_mode_imports_nothing_and_exits_1(setup, tmp_path):
    env, engine, project_id = setup
    rows = _numbers(20)
    rows[11] = '{"instruction": "broken",'
    refused = studio(env, "import", str(_file(tmp_path, rows)), "--project", "Numbers")
    assert refused.returncode == 1
    assert refused.stdout.startswith("jsonl file") and "line 12:" in refused.stdout
    assert "Nothing was imported" in refused.stderr
    assert _count(engine, project_id) == 0


def test_a_queued_import_is_run_by_a_background_worker(setup, tmp_path):
    env, engine, project_id = setup
    queued = studio(
        env, "import", str(_file(tmp_path, _numbers(25))), "--project", "1", "--queue-only"
    )
    assert queued.returncode == 0, queued.stderr
    assert "queued import 1 as background task 1" in queued.stdout
    assert _count(engine, project_id) == 0
    worker = subprocess.Popen(
        [STUDIO, "worker", "--background"], env=env, cwd="/", stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60  # a hang guard
        while True:
            with Session(engine) as session:
                task = session.get(BackgroundTask, 1)
                if task.state == "done":
                    break
            assert time.monotonic() < deadline, "the worker never finished the import"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(30)
    with Session(engine) as session:
        job = session.get(ImportJob, 1)
        # 25 rows, 7 a batch: 3 full batches, the pass's start, 4 batches indexed
        assert (job.state, job.created_items, task.checkpoint["batches"]) == ("done", 25, 8)
    assert _count(engine, project_id) == 25


def test_export_writes_a_readme_and_one_file_per_split(setup, tmp_path):
    env, engine, project_id = setup
    assert studio(env, "import", str(_file(tmp_path, _numbers(12))), "--project", "Numbers",
                  "--status", "submitted").returncode == 0  # fmt: skip
    with Session(engine, expire_on_commit=False) as session:
        admin = session.scalar(select(User).where(User.role == "admin"))
        version = create_version(
            session=session,
            project=projects.get_project(session=session, project_id=project_id),
            name="v1",
            f=VersionFilter(statuses=["submitted"]),
            actor=admin,
            eval_fraction=0.25,
        )
        session.commit()
    out = tmp_path / "out"
    exported = studio(env, "export", str(version.id), "--format", "openai_jsonl", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "eval.jsonl", "train.jsonl"]
    lines = [
        json.loads(line)
        for name in ("train.jsonl", "eval.jsonl")
        for line in (out / name).read_text().splitlines()
    ]
    assert len(lines) == 12 and all(line["messages"][0]["role"] == "user" for line in lines)


def test_tasks_are_listed_watched_and_cancelled(setup, tmp_path):
    env, engine, project_id = setup
    first = studio(env, "import", str(_file(tmp_path, _numbers(9))), "--project", "Numbers")
    assert first.returncode == 0, first.stderr
    queued = studio(
        env, "import", str(_file(tmp_path, _numbers(12))), "--project", "1", "--queue-only"
    )
    assert "as background task 2" in queued.stdout
    listed = studio(env, "tasks", "list", "Numbers", "--json")
    assert [(t["id"], t["kind"], t["state"]) for t in json.loads(listed.stdout)] == [
        (2, "import", "queued"),
        (1, "import", "done"),
    ]
    watched = studio(env, "tasks", "watch", "1")
    assert watched.returncode == 0 and "task 1 done" in watched.stdout
    cancelled = studio(env, "tasks", "cancel", "2")
    assert (cancelled.returncode, cancelled.stdout.strip()) == (0, "task 2: cancelled")
    shown = json.loads(studio(env, "tasks", "show", "2", "--json").stdout)
    assert (shown["state"], shown["cancel_requested"]) == ("cancelled", True)
    with Session(engine) as session:
        assert session.get(ImportJob, 2).state == "cancelled"
    again = studio(env, "tasks", "watch", "2")
    assert again.returncode == 1 and "cancelled" in again.stderr
    assert studio(env, "tasks", "cancel", "2").returncode == 1  # it has already finished
