"""`studio datasets …` as real processes on a fresh database: freezing runs the background
task here (or only queues it), and list and show read what it froze."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app import migrate
from app.db import make_engine
from app.models import BackgroundTask, DatasetVersion
from tests.dataset_factories import approved_project
from tests.dbs import fresh_database
from tests.live_server import STUDIO


@contextmanager
def seeded(backend: str, tmp_path, seed: Callable[[Session], Any]) -> Iterator[tuple]:
    """A migrated database that ``seed`` filled (committed): the environment the `studio`
    command needs, an engine, and what ``seed`` answered."""
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            with Session(engine, expire_on_commit=False) as session:
                seeded_with = seed(session)
                session.commit()
            env = {
                **os.environ,
                "STUDIO_DATABASE_URL": url,
                "STUDIO_VAR_DIR": str(tmp_path / "var"),
                "STUDIO_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
                "STUDIO_BACKGROUND_POLL_SECONDS": "0.1",
            }
            yield env, engine, seeded_with
        finally:
            engine.dispose()


def studio(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [STUDIO, *args], env=env, cwd="/", capture_output=True, text=True, timeout=120
    )


def as_json(done: subprocess.CompletedProcess) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def setup(backend, tmp_path):
    """Sixteen approved items (eight tasks) in a project called Colours."""
    with seeded(backend, tmp_path, lambda s: approved_project(s, name="Colours")[0].id) as ready:
        yield ready


def test_freeze_here_or_queue_it_then_list_and_show(setup):
    env, engine, project_id = setup
    queued = studio(env, "datasets", "freeze", "Colours", "--name", "later", "--queue-only")
    assert queued.returncode == 0, queued.stderr
    task_id = int(re.search(r"queued the freeze as background task (\d+)", queued.stdout)[1])
    frozen = studio(
        env, "datasets", "freeze", str(project_id), "--name", "tasks", "--kind", "task",
        "--origin", "written", "--eval-fraction", "0.25", "--seed", "7", "--license", "CC-BY-4.0",
    )  # fmt: skip
    assert frozen.returncode == 0, frozen.stderr
    version_id = int(re.search(r"froze dataset version (\d+) tasks: 8 items", frozen.stdout)[1])
    assert "4/4" in frozen.stderr  # the progress bar, drawn to its last phase
    with Session(engine) as session:
        version = session.get(DatasetVersion, version_id)
        assert (version.filter, version.seed, version.license) == (
            {"statuses": ["approved"], "kinds": ["task"], "origins": ["written"]}, 7, "CC-BY-4.0",
        )  # fmt: skip
        assert version.train_count + version.eval_count == 8 and version.eval_count > 0
        # The queued freeze waits for the server's task loops.
        assert session.get(BackgroundTask, task_id).state == "queued"

    listing = studio(env, "datasets", "list", "Colours").stdout
    assert f"{version.manifest_hash[:12]}" in listing
    assert f"freezing 'later': background task {task_id}, queued" in listing
    shown = studio(env, "datasets", "show", str(version_id)).stdout
    assert f"manifest   {version.manifest_hash}" in shown
    assert f"items      {version.train_count} train, {version.eval_count} eval" in shown
    assert "kind       task 8" in shown and "license    CC-BY-4.0" in shown
    checked = version.stats["contamination_check"]
    assert f"contamination  {checked['contaminated']} of {version.eval_count} eval items" in shown
