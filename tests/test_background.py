"""Background tasks: claiming (two claimers never both win), cancel (a queued task at once, a
running one at its next batch, whole batches kept), recovery (a task handed back or whose lease
expired resumes from its last committed batch; after the last attempt it fails), and the lost
lease (an attempt that was replaced writes nothing more). Real commits, on both databases."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Pause
from app.background.runner import Runner
from app.datasets import freezing
from app.db import begin_for_write
from app.imports import service as imports
from app.imports import task as import_task
from app.imports.reader import ImportOptions
from app.models import BackgroundTask, ImportJob, Item, NearDupKey, SearchTerm
from app.models.base import utcnow
from app.tasks import KINDS
from tests.factories import make_user
from tests.helpers import in_parallel, login
from tests.review_factories import make_project

ROWS = 50
BATCH = 10


def _rows(n: int = ROWS) -> bytes:
    return "\n".join(
        json.dumps({"instruction": f"Spell the number {i}.", "input": "", "output": f"n{i}"})
        for i in range(1, n + 1)
    ).encode()


def _queued_import(session: Session, tmp_path, *, mode="all_or_nothing") -> tuple[int, int, int]:
    """A committed project with a queued import of ROWS rows: (project, import, task) ids."""
    begin_for_write(session)
    admin = make_user(session, role="admin")
    project = make_project(session, admin, name=f"Background {tmp_path.name}")
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
        session=session, job=job, options=ImportOptions(mode=mode), actor=admin
    )
    session.commit()
    return project.id, job.id, task.id


def _runner(engine, **options) -> Runner:
    return Runner(
        lambda: Session(engine, expire_on_commit=False),
        KINDS,
        batch_rows=BATCH,
        poll_seconds=0.05,
        **options,
    )


def _read(engine, model, key):
    with Session(engine) as session:
        return session.get(model, key)


def _items(engine, project_id: int) -> int:
    with Session(engine) as session:
        return session.scalar(
            select(func.count()).select_from(Item).where(Item.project_id == project_id)
        )


def _wait_for(condition, timeout: float = 60.0) -> None:
    """A hang guard, not a timing: the condition is what the test waits for."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def _batches(engine, task_id: int) -> int:
    return _read(engine, BackgroundTask, task_id).checkpoint.get("batches", 0)


class TestClaim:
    def test_two_claimers_never_both_win(self, committed, tmp_path):
        with Session(committed, expire_on_commit=False) as session:
            _project, _import, task_id = _queued_import(session, tmp_path)

        def claim(session, index):
            task = queue.claim(session, worker=f"w{index}", lease=timedelta(minutes=1))
            return task.id if task else None

        assert sorted(in_parallel(committed, claim), key=str) == [task_id, None]
        task = _read(committed, BackgroundTask, task_id)
        assert (task.state, task.attempts) == ("running", 1)

    def test_a_queued_import_runs_to_the_end_and_indexes(self, committed, tmp_path):
        with Session(committed, expire_on_commit=False) as session:
            project_id, import_id, task_id = _queued_import(session, tmp_path)
        assert _runner(committed).run_one() == task_id
        task = _read(committed, BackgroundTask, task_id)
        job = _read(committed, ImportJob, import_id)
        assert (task.state, task.result["created"], task.checkpoint["batches"]) == (
            "done",
            ROWS,
            # each batch of rows, the start of the follow-up pass, each batch it indexes
            ROWS // BATCH + 1 + ROWS // BATCH,
        )
        assert (job.state, job.created_items, job.skipped_duplicates) == ("done", ROWS, 0)
        assert _items(committed, project_id) == ROWS


class TestCancel:
    def test_a_queued_task_is_cancelled_at_once_and_never_runs(self, client, db_session, tmp_path):
        admin = make_user(db_session, role="admin")
        project = make_project(db_session, admin, name="Cancel queued")
        csrf = login(client, admin.email)
        upload = client.post(
            f"/projects/{project.id}/imports",
            data={"csrf_token": csrf},
            files={"file": ("rows.jsonl", _rows(), "application/jsonl")},
        )
        import_id = int(upload.headers["location"].rsplit("/", 1)[1])
        client.post(f"/imports/{import_id}/run", data={"csrf_token": csrf, "mode": "valid_rows"})
        job = db_session.get(ImportJob, import_id)
        assert job.state == "queued"
        cancelled = client.post(f"/tasks/{job.task_id}/cancel", data={"csrf_token": csrf})
        assert cancelled.status_code == 303
        db_session.refresh(job)
        task = db_session.get(BackgroundTask, job.task_id)
        assert (task.state, job.state) == ("cancelled", "cancelled")
        assert client.app.state.background.run_one() is None  # nothing left to claim
        again = client.post(f"/api/v1/tasks/{task.id}/cancel", headers={"X-CSRF-Token": csrf})
        assert again.status_code == 409  # it has already finished

    def test_a_running_import_stops_at_its_next_batch_keeping_whole_batches(
        self, committed, tmp_path
    ):
        with Session(committed, expire_on_commit=False) as session:
            project_id, import_id, task_id = _queued_import(session, tmp_path, mode="valid_rows")
        runner = _runner(committed, pause=Pause(after_batch=2, seconds=30))
        worker = threading.Thread(target=runner.run_one, kwargs={"heartbeat": True})
        worker.start()
        try:
            _wait_for(lambda: _batches(committed, task_id) == 2)
            with Session(committed) as session:
                begin_for_write(session)
                task = session.get(BackgroundTask, task_id)
                queue.request_cancel(session, task=task, actor=None)
                session.commit()
        finally:
            runner.stop()  # ends the pause; the cancel is seen first or at the next report
            worker.join(60)
        task = _read(committed, BackgroundTask, task_id)
        job = _read(committed, ImportJob, import_id)
        assert task.state in ("cancelled", "queued")
        if task.state == "queued":  # the stop won the race: the task was handed back
            assert _runner(committed).run_one() == task_id
            task = _read(committed, BackgroundTask, task_id)
            job = _read(committed, ImportJob, import_id)
        assert (task.state, job.state) == ("cancelled", "cancelled")
        assert job.created_items == _items(committed, project_id) == 2 * BATCH


class TestRecovery:
    def test_a_task_handed_back_resumes_after_its_last_batch(self, committed, tmp_path):
        with Session(committed, expire_on_commit=False) as session:
            project_id, import_id, task_id = _queued_import(session, tmp_path)
        first = _runner(committed, pause=Pause(after_batch=2, seconds=60))
        worker = threading.Thread(target=first.run_one, kwargs={"heartbeat": True})
        worker.start()
        _wait_for(lambda: _batches(committed, task_id) == 2)
        first.stop()  # the process stops: its task goes back to the queue, as committed
        worker.join(60)
        task = _read(committed, BackgroundTask, task_id)
        assert (task.state, task.attempts, task.checkpoint["tally"]["rows"]) == (
            "queued",
            0,
            2 * BATCH,
        )
        assert _items(committed, project_id) == 2 * BATCH
        assert _runner(committed).run_one() == task_id
        job = _read(committed, ImportJob, import_id)
        # Restarted from the top, the first batches would have been skipped as duplicates.
        assert (job.state, job.created_items, job.skipped_duplicates) == ("done", ROWS, 0)
        assert _items(committed, project_id) == ROWS

    def test_an_expired_lease_is_resumed_and_the_old_attempt_writes_nothing_more(
        self, committed, tmp_path
    ):
        with Session(committed, expire_on_commit=False) as session:
            project_id, import_id, task_id = _queued_import(session, tmp_path)
        stalled = _runner(committed, pause=Pause(after_batch=2, seconds=60))
        worker = threading.Thread(target=stalled.run_one)  # no heartbeat: it looks dead
        worker.start()
        try:
            _wait_for(lambda: _batches(committed, task_id) == 2)
            with Session(committed) as session:
                begin_for_write(session)
                session.execute(
                    update(BackgroundTask)
                    .where(BackgroundTask.id == task_id)
                    .values(lease_until=utcnow() - timedelta(seconds=1))
                )
                session.commit()
            assert _runner(committed).run_one() == task_id  # requeued, claimed, resumed
        finally:
            stalled.stop()
            worker.join(60)
        task = _read(committed, BackgroundTask, task_id)
        job = _read(committed, ImportJob, import_id)
        assert (task.state, task.attempts) == ("done", 2)
        assert (job.created_items, job.skipped_duplicates) == (ROWS, 0)
        assert _items(committed, project_id) == ROWS  # the stalled attempt added nothing

    def test_after_the_last_attempt_the_task_fails_and_says_so(self, committed, tmp_path):
        with Session(committed, expire_on_commit=False) as session:
            _project, import_id, task_id = _queued_import(session, tmp_path)
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
        assert _runner(committed).run_one() == task_id
        task = _read(committed, BackgroundTask, task_id)
        job = _read(committed, ImportJob, import_id)
        assert (task.state, job.state) == ("failed", "failed")
        assert "stopped" in task.error and job.message == task.error


def test_a_freeze_stopped_after_its_version_computes_only_the_statistics(committed):
    from app.datasets import task as freeze_task
    from app.datasets.freezing import has_statistics
    from app.datasets.versions import VersionFilter
    from app.models import DatasetVersion
    from tests.dataset_factories import approved_project

    with Session(committed, expire_on_commit=False) as session:
        begin_for_write(session)
        project, admin, created = approved_project(session, name="Freeze in two steps")
        task = freeze_task.start(
            session=session, project=project, name="v1", f=VersionFilter(), actor=admin
        )
        session.commit()
    first = _runner(committed, pause=Pause(after_batch=1, seconds=60))
    worker = threading.Thread(target=first.run_one, kwargs={"heartbeat": True})
    worker.start()
    _wait_for(lambda: _batches(committed, task.id) == 1)
    first.stop()  # between the two transactions: the version is committed, the statistics not
    worker.join(60)
    with Session(committed) as session:
        frozen = session.scalars(select(DatasetVersion)).all()
        assert len(frozen) == 1 and not has_statistics(frozen[0])
        assert frozen[0].train_count + frozen[0].eval_count == len(created)
    assert _runner(committed).run_one() == task.id
    with Session(committed) as session:
        (version,) = session.scalars(select(DatasetVersion)).all()  # still the one version
        assert has_statistics(version) and version.stats["total"] == len(created)
        assert version.stats["contamination_check"]["eval_items"] == version.eval_count
        done = session.get(BackgroundTask, task.id)
        assert (done.state, done.result["version_id"]) == ("done", version.id)


@pytest.mark.parametrize("eval_fraction", [0.0, 0.25])
def test_a_freeze_over_the_api_is_queued_then_names_its_version(
    client, db_session, run_tasks, eval_fraction
):
    from tests.dataset_factories import approved_project
    from tests.factories import make_token

    project, admin, created = approved_project(db_session)
    headers = {"Authorization": f"Bearer {make_token(db_session, scope='user', owner=admin)}"}
    response = client.post(
        f"/api/v1/projects/{project.id}/datasets",
        headers=headers,
        json={"name": "api-v1", "eval_fraction": eval_fraction},
    )
    assert response.status_code == 202, response.text
    queued = response.json()
    assert (queued["kind"], queued["state"]) == ("freeze", "queued")
    assert run_tasks() == [queued["id"]]
    task = client.get(f"/api/v1/tasks/{queued['id']}", headers=headers).json()
    assert (task["state"], task["phase"]) == ("done", "done")
    version = client.get(f"/api/v1/datasets/{task['result']['version_id']}", headers=headers)
    assert version.json()["train_count"] + version.json()["eval_count"] == len(created)
    listed = client.get(f"/api/v1/projects/{project.id}/tasks", headers=headers).json()
    assert [t["id"] for t in listed] == [queued["id"]]


def test_a_filter_that_matches_nothing_is_refused_before_queueing(client, db_session):
    from tests.dataset_factories import approved_project
    from tests.factories import make_token

    project, admin, _created = approved_project(db_session)
    headers = {"Authorization": f"Bearer {make_token(db_session, scope='user', owner=admin)}"}
    response = client.post(
        f"/api/v1/projects/{project.id}/datasets",
        headers=headers,
        json={"name": "nothing", "statuses": ["rejected"]},
    )
    assert response.status_code == 422
    assert db_session.scalar(select(func.count()).select_from(BackgroundTask)) == 0


def test_a_version_whose_statistics_are_pending_says_so(client, db_session):
    from app.datasets.versions import VersionFilter
    from tests.dataset_factories import approved_project

    project, admin, _created = approved_project(db_session)
    version, rows = freezing.freeze(
        session=db_session, project=project, name="early", f=VersionFilter(), actor=admin
    )
    login(client, admin.email)
    page = client.get(f"/datasets/{version.id}")
    assert page.status_code == 200
    assert 'id="statistics-pending"' in page.text and 'id="manifest"' in page.text
    freezing.add_statistics(db_session, version, rows)
    page = client.get(f"/datasets/{version.id}")
    assert 'id="statistics-pending"' not in page.text and "distinct-1" in page.text


def test_an_import_stopped_in_its_follow_up_pass_resumes_there(committed, tmp_path):
    with Session(committed, expire_on_commit=False) as session:
        project_id, import_id, task_id = _queued_import(session, tmp_path)
    # Batches 1-5 are the rows, 6 starts the pass, 7 is its first batch of ten items.
    first = _runner(committed, pause=Pause(after_batch=7, seconds=60))
    worker = threading.Thread(target=first.run_one, kwargs={"heartbeat": True})
    worker.start()
    _wait_for(lambda: _batches(committed, task_id) == 7)
    first.stop()
    worker.join(60)
    task = _read(committed, BackgroundTask, task_id)
    assert (task.state, task.checkpoint["stage"], task.checkpoint["done"]) == (
        "queued",
        "index",
        BATCH,
    )
    assert _read(committed, ImportJob, import_id).state == "done"  # the rows are all in
    assert _runner(committed).run_one() == task_id
    with Session(committed) as session:
        keyed = session.scalar(select(func.count(func.distinct(NearDupKey.item_id))))
        terms = session.scalar(select(func.count()).select_from(SearchTerm))
    assert keyed == ROWS and terms > 0  # every item indexed once (a second time would clash)
    assert _read(committed, BackgroundTask, task_id).state == "done"
