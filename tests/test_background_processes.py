"""Two web processes on one database: an import queued through one is followed from the
other, and when the process running it is killed midway (after its second committed batch,
held there by the documented pause setting), the other resumes it once the short lease has
expired, from the last committed batch, and finishes it: every row once, nothing twice."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import migrate
from app.db import make_engine
from app.models import Item
from tests.conftest import live_backend
from tests.dbs import fresh_database
from tests.factories import make_token, make_user
from tests.live_server import Server
from tests.review_factories import make_project

pytestmark = pytest.mark.live

ROWS = 120
BATCH = 20


def _wait(condition, what: str, timeout: float = 90.0):
    """A hang guard: poll until ``condition()`` answers something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def test_a_killed_process_s_import_is_resumed_by_the_other(tmp_path):
    with fresh_database(live_backend(), tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            admin = make_user(session, role="admin", email="two-processes@example.org")
            project = make_project(session, admin, name="Two processes")
            token = make_token(session, scope="user", owner=admin)
            session.commit()
        env = {
            **os.environ,
            "STUDIO_DATABASE_URL": url,
            "STUDIO_VAR_DIR": str(tmp_path / "var"),
            "STUDIO_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
            "STUDIO_SECRET_KEY": "two-processes-secret-key",
            "STUDIO_BACKGROUND_LEASE_SECONDS": "2",
            "STUDIO_BACKGROUND_POLL_SECONDS": "0.2",
            "STUDIO_BACKGROUND_BATCH_ROWS": str(BATCH),
            "STUDIO_BACKGROUND_PAUSE_AFTER_BATCH": "2",
            "STUDIO_BACKGROUND_PAUSE_SECONDS": "600",
        }
        servers = [Server(env, tmp_path, command="serve") for _ in range(2)]
        headers = {"Authorization": f"Bearer {token}"}
        try:
            for server in servers:
                server.wait()
            first, second = servers
            rows = "\n".join(
                json.dumps(
                    {"instruction": f"Count to {i}.", "output": " ".join(map(str, range(i)))}
                )
                for i in range(1, ROWS + 1)
            )
            queued = httpx.post(
                f"{first.url}/api/v1/projects/{project.id}/imports",
                headers=headers,
                files={"file": ("count.jsonl", rows.encode())},
                timeout=30,
            )
            assert queued.status_code == 202, queued.text
            task_url = f"/api/v1/tasks/{queued.json()['task_id']}"

            def task_on(server):
                return httpx.get(f"{server.url}{task_url}", headers=headers, timeout=10).json()

            # Followed from the other process: two batches committed, then the pause.
            paused = _wait(lambda: (t := task_on(second))["done"] >= 2 * BATCH and t, "two batches")
            assert (paused["state"], paused["phase"], paused["attempts"]) == (
                "running",
                "importing",
                1,
            )
            pid = int(paused["worker"].split(":")[1])
            running = next(s for s in servers if s.proc.pid == pid)
            survivor = second if running is first else first
            running.proc.send_signal(signal.SIGKILL)
            running.proc.wait(30)

            done = _wait(lambda: (t := task_on(survivor))["state"] == "done" and t, "the resume")
            assert done["attempts"] == 2
            assert int(done["worker"].split(":")[1]) == survivor.proc.pid
            report = httpx.get(
                f"{survivor.url}/api/v1/imports/{queued.json()['id']}", headers=headers
            ).json()
            assert (report["state"], report["created_items"], report["skipped_duplicates"]) == (
                "done",
                ROWS,
                0,
            )
            with Session(engine) as session:
                stored = session.scalar(
                    select(func.count(func.distinct(Item.content_hash))).where(
                        Item.project_id == project.id
                    )
                )
                total = session.scalar(
                    select(func.count()).select_from(Item).where(Item.project_id == project.id)
                )
            assert stored == total == ROWS  # every row once, none twice
        finally:
            for server in servers:
                if server.proc.poll() is None:
                    server.stop()
            engine.dispose()
