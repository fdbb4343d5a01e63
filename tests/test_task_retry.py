"""Retrying a failed or cancelled background task: it goes back to the queue with its
checkpoint (an import goes on after its last batch, or in its follow-up pass; a bulk action
after its last batch; a freeze from the start), its attempts, error and cancel request
cleared, and an audit event. Refused for a task in any other state, for an import whose file
is gone, and for a kind that cannot resume. Through the service, the pages, the JSON API and
`studio tasks retry`, on both databases."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import migrate
from app.background import queue, service
from app.background.context import Kind, Pause
from app.background.runner import Runner
from app.db import begin_for_write
from app.errors import Conflict
from app.imports import service as imports
from app.imports import task as import_task
from app.imports.reader import ImportOptions
from app.items import bulk_task
from app.items import service as items
from app.items.repository import ItemFilter
from app.items.schemas import ItemDraft
from app.models import AuditEvent, BackgroundTask, ImportJob, Item, NearDupKey
from app.models.base import utcnow
from app.projects import service as projects
from app.projects.service import ProjectInput
from app.tasks import KINDS
from tests.dataset_factories import approved_project
from tests.dbs import fresh_database
from tests.factories import join, make_token, make_user
from tests.helpers import login
from tests.live_server import STUDIO

ROWS = 30
BATCH = 10


def _rows() -> bytes:
    return "\n".join(
        json.dumps({"instruction": f"Spell the number {i}.", "output": f"n{i}"})
        for i in range(1, ROWS + 1)
    ).encode()


def _runner(engine, **options) -> Runner:
    return Runner(
        lambda: Session(engine, expire_on_commit=False), KINDS, batch_rows=BATCH, **options
    )


def _read(engine, model, key):
    with Session(engine) as session:
        return session.get(model, key)


def _count(engine, query) -> int:
    with Session(engine) as session:
        return session.scalar(query)


def _fail_after(engine, task_id: int, batches: int) -> None:
    """Run the task until ``batches`` batches are committed, stop there, then let it fail as a
    task does whose process died once too often."""
    first = _runner(engine, pause=Pause(after_batch=batches, seconds=60))
    worker = threading.Thread(target=first.run_one, kwargs={"heartbeat": True})
    worker.start()
    deadline = time.monotonic() + 60  # a hang guard, not a timing
    while _read(engine, BackgroundTask, task_id).checkpoint.get("batches", 0) < batches:
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)
    first.stop()
    worker.join(60)
    with Session(engine) as session:
        begin_for_write(session)
        session.execute(
            update(BackgroundTask)
            .where(BackgroundTask.id == task_id)
            .values(
                state="running",
                attempts=queue.MAX_ATTEMPTS,
                lease_until=utcnow() - timedelta(seconds=1),
            )
        )
        session.commit()
    assert _runner(engine).run_one() == task_id
    task = _read(engine, BackgroundTask, task_id)
    assert task.state == "failed" and task.checkpoint["batches"] == batches


def _retry(engine, task_id: int) -> BackgroundTask:
    with Session(engine, expire_on_commit=False) as session:
        begin_for_write(session)
        task = session.get(BackgroundTask, task_id)
        admin = make_user(session, role="admin")
        service.retry(session=session, task=task, actor=admin, kinds=KINDS)
        session.commit()
        return task


@pytest.mark.parametrize("stopped_after", [2, 5], ids=["rows", "follow-up-pass"])
def test_a_failed_import_goes_on_where_it_stopped(committed, tmp_path, stopped_after):
    # Batches 1-3 are the rows, 4 starts the follow-up pass, 5 indexes its first ten items.
    with Session(committed, expire_on_commit=False) as session:
        begin_for_write(session)
        admin = make_user(session, role="admin")
        project = projects.create_project(
            session=session, data=ProjectInput(name="Retried import"), actor=admin
        )
        path = tmp_path / "rows.jsonl"
        path.write_bytes(_rows())
        with path.open("rb") as f:
            job = imports.store_upload(
                session=session,
                project=project,
                filename="rows.jsonl",
                stream=f,
                folder=tmp_path / "store",
                actor=admin,
            )
        task = import_task.start(
            session=session, job=job, options=ImportOptions(mode="valid_rows"), actor=admin
        )
        session.commit()
    _fail_after(committed, task.id, stopped_after)
    in_rows = stopped_after < 4
    assert _read(committed, ImportJob, job.id).state == ("failed" if in_rows else "done")

    retried = _retry(committed, task.id)
    assert (retried.state, retried.attempts, retried.error) == ("queued", 0, None)
    assert retried.phase == "requeued" and retried.checkpoint["batches"] == stopped_after
    assert _read(committed, ImportJob, job.id).state == ("queued" if in_rows else "done")
    assert _runner(committed).run_one() == task.id

    done, job = _read(committed, BackgroundTask, task.id), _read(committed, ImportJob, job.id)
    assert (done.state, done.attempts) == ("done", 1)
    # From the top, the first batches would come back as duplicates, or index twice and clash.
    assert (job.state, job.created_items, job.skipped_duplicates) == ("done", ROWS, 0)
    assert _count(committed, select(func.count()).select_from(Item)) == ROWS
    assert _count(committed, select(func.count(func.distinct(NearDupKey.item_id)))) == ROWS
    event = _count(committed, select(AuditEvent.before).where(AuditEvent.action == "task.retried"))
    assert "stopped" in event["error"]


def test_a_failed_bulk_action_goes_on_after_its_last_batch(committed):
    with Session(committed, expire_on_commit=False) as session:
        begin_for_write(session)
        admin = make_user(session, role="admin")
        project = projects.create_project(
            session=session, data=ProjectInput(name="Retried bulk"), actor=admin
        )
        for n in range(25):
            draft = ItemDraft(kind="task", instruction=f"Count to {n}.", output="Done.")
            items.create_item(session=session, project=project, draft=draft, author=admin)
        task = bulk_task.start(
            session=session,
            project=project,
            f=ItemFilter(project_id=project.id),
            action="submit",
            tag="",
            actor=admin,
        )
        session.commit()
    _fail_after(committed, task.id, 1)
    submitted = select(func.count()).where(Item.status == "submitted")
    assert _count(committed, submitted) == BATCH
    _retry(committed, task.id)
    assert _runner(committed).run_one() == task.id
    done = _read(committed, BackgroundTask, task.id)
    assert done.state == "done" and done.checkpoint["batches"] == 3
    assert done.result["changed"] == done.result["items"] == 25 == _count(committed, submitted)
    events = select(func.count()).where(AuditEvent.action == "item.submitted")
    assert _count(committed, events) == 25  # each item once, across both attempts


def _headers(session, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, scope='user', owner=user)}"}


def test_a_cancelled_freeze_is_retried_over_the_api(client, db_session, run_tasks):
    project, admin, created = approved_project(db_session)
    headers = _headers(db_session, admin)
    queued = client.post(
        f"/api/v1/projects/{project.id}/datasets", headers=headers, json={"name": "again"}
    ).json()
    cancelled = client.post(f"/api/v1/tasks/{queued['id']}/cancel", headers=headers).json()
    assert cancelled["state"] == "cancelled"
    response = client.post(f"/api/v1/tasks/{queued['id']}/retry", headers=headers)
    assert response.status_code == 202, response.text
    retried = response.json()
    assert (retried["state"], retried["phase"], retried["cancel_requested"]) == (
        "queued",
        "queued",  # nothing committed before: it starts from the beginning
        False,
    )
    assert run_tasks() == [queued["id"]]
    task = client.get(f"/api/v1/tasks/{queued['id']}", headers=headers).json()
    assert task["state"] == "done" and task["result"]["items"] == len(created)


def test_only_a_failed_or_cancelled_task_is_retried(client, db_session, admin_user):
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Not failed"), actor=admin_user
    )
    headers = _headers(db_session, admin_user)
    for state in ("queued", "running", "done"):
        task = BackgroundTask(kind="freeze", project_id=project.id, state=state, attempts=1)
        db_session.add(task)
        db_session.flush()
        response = client.post(f"/api/v1/tasks/{task.id}/retry", headers=headers)
        assert response.status_code == 409
        assert (
            f"Only a failed or cancelled task can be retried; this one is {state}."
            in (response.json()["detail"])
        )


def test_a_kind_that_cannot_resume_is_not_retried(db_session, admin_user):
    task = BackgroundTask(kind="one-shot", state="failed", error="boom")
    db_session.add(task)
    db_session.flush()
    kinds = {"one-shot": Kind(run=lambda *a: {}, settle=lambda *a: None)}
    with pytest.raises(Conflict, match="cannot be retried"):
        service.retry(session=db_session, task=task, actor=admin_user, kinds=kinds)
    assert task.state == "failed"


def test_an_import_whose_file_is_gone_waits_for_it(client, db_session, run_tasks, tmp_path):
    admin = make_user(db_session, role="admin")
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Lost file"), actor=admin
    )
    csrf = login(client, admin.email)
    upload = client.post(
        f"/projects/{project.id}/imports",
        data={"csrf_token": csrf},
        files={"file": ("rows.jsonl", _rows(), "application/jsonl")},
    )
    import_id = int(upload.headers["location"].rsplit("/", 1)[1])
    client.post(f"/imports/{import_id}/run", data={"csrf_token": csrf, "mode": "valid_rows"})
    job = db_session.get(ImportJob, import_id)
    kept = tmp_path / "kept.jsonl"
    os.replace(job.path, kept)
    run_tasks()
    db_session.refresh(job)
    task = db_session.get(BackgroundTask, job.task_id)
    assert (task.state, job.state) == ("failed", "failed")

    page = client.get(f"/tasks/{task.id}").text
    assert f'id="task-retry-{task.id}"' in page
    refused = client.post(f"/tasks/{task.id}/retry", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "upload it again" in refused.text
    db_session.refresh(task)
    assert task.state == "failed"

    os.replace(kept, job.path)
    retried = client.post(f"/tasks/{task.id}/retry", data={"csrf_token": csrf})
    assert retried.status_code == 303
    assert retried.headers["location"] == f"/tasks/{task.id}"
    db_session.refresh(job)
    assert job.state == "queued" and job.message is None
    assert "Retrying the task." in client.get(f"/tasks/{task.id}").text
    assert run_tasks() == [task.id]
    db_session.refresh(job)
    assert (job.state, job.created_items) == ("done", ROWS)


def test_retry_is_offered_to_managers_only(client, db_session, admin_user):
    admin = admin_user
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Failed"), actor=admin
    )
    annotator = make_user(db_session)
    join(db_session, project, annotator)
    task = BackgroundTask(
        kind="items.bulk",
        project_id=project.id,
        state="failed",
        error="The task stopped: boom",
        created_by=annotator.id,
    )
    db_session.add(task)
    db_session.flush()
    csrf = login(client, annotator.email)
    page = client.get(f"/tasks/{task.id}").text
    assert "boom" in page and f'id="task-retry-{task.id}"' not in page
    assert client.post(f"/tasks/{task.id}/retry", data={"csrf_token": csrf}).status_code == 403
    manager = TestClient(client.app, follow_redirects=False)
    login(manager, admin.email)
    assert f'id="task-retry-{task.id}"' in manager.get(f"/tasks/{task.id}").text


# -- the command line -----------------------------------------------------------------------------


def test_studio_items_bulk_then_tasks_cancel_and_retry(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        from app.db import make_engine

        engine = make_engine(url)
        try:
            with Session(engine, expire_on_commit=False) as session:
                admin = make_user(session, role="admin", email="root@example.org")
                project = projects.create_project(
                    session=session, data=ProjectInput(name="Numbers"), actor=admin
                )
                for n in range(5):
                    draft = ItemDraft(kind="task", instruction=f"Say {n}.", output=str(n))
                    items.create_item(
                        session=session, project=project, draft=draft, author=admin, submit=n == 0
                    )
                session.commit()
            env = {**os.environ, "STUDIO_DATABASE_URL": url, "STUDIO_VAR_DIR": str(tmp_path)}

            def studio(*args):
                return subprocess.run(
                    [STUDIO, *args], env=env, cwd="/", capture_output=True, text=True, timeout=120
                )

            tagged = studio(
                "items", "bulk", "--project", "Numbers", "--action", "tag", "--tag", "cli",
                "--status", "draft",
            )  # fmt: skip
            assert tagged.returncode == 0, tagged.stderr
            assert "4 of 4 items changed" in tagged.stdout
            queued = studio("items", "bulk", "--project", "Numbers", "--action", "submit",
                            "--with-tag", "cli", "--queue-only")  # fmt: skip
            assert queued.returncode == 0, queued.stderr
            task_id = queued.stdout.split()[-1]
            assert f"queued submit over 4 items as background task {task_id}" in queued.stdout
            assert studio("tasks", "cancel", task_id).returncode == 0
            retried = studio("tasks", "retry", task_id, "--here")
            assert retried.returncode == 0, retried.stderr
            assert f"task {task_id}: queued again, to resume from the start" in retried.stdout
            assert "'changed': 4" in retried.stdout
            with Session(engine) as session:
                statuses = session.scalars(select(Item.status)).all()
                assert sorted(statuses) == ["submitted"] * 5
                retries = select(func.count()).where(AuditEvent.action == "task.retried")
                assert session.scalar(retries) == 1
        finally:
            engine.dispose()
