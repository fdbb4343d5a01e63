"""A worker token speaks only for the job it claimed. A second worker token cannot heartbeat,
report, complete, fail or cancel that job, nor read its dataset version; once the lease runs
out and another token claims the job, the first token loses it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.core.job_paths import WorkerPath
from app.datasets import freezing, versions
from app.datasets.versions import VersionFilter
from app.jobs import queue
from app.models import EvalPrediction, ItemDynamics, Job, JobLog, JobMetric
from app.models.base import utcnow
from tests.job_factories import WorkerApi, error_sentence


def _reports(api: WorkerApi, attempt: int) -> dict[str, dict]:
    """One well-formed message of every kind a worker sends about a running job."""
    pinned = list(versions.pinned(api.session, api.version.id))
    train = next(link.item_id for link, _ in pinned if link.split == "train")
    evaluated = next(link.item_id for link, _ in pinned if link.split == "eval")
    return {
        WorkerPath.HEARTBEAT: {"attempt": attempt, "step": 2},
        WorkerPath.METRICS: {
            "attempt": attempt,
            "points": [{"step": 1, "name": "train/loss", "value": 0.5}],
        },
        WorkerPath.LOGS: {"attempt": attempt, "lines": ["written by someone else"]},
        WorkerPath.DYNAMICS: {
            "attempt": attempt,
            "points": [{"item_id": train, "epoch": 1, "loss": 1.0, "confidence": 0.5}],
        },
        WorkerPath.PREDICTIONS: {
            "attempt": attempt,
            "predictions": [
                {
                    "item_id": evaluated,
                    "kind": "task",
                    "reference": "r",
                    "base_output": "b",
                    "tuned_output": "t",
                    "scores": {"tuned_f1": 1.0},
                }
            ],
        },
        WorkerPath.COMPLETE: {"attempt": attempt, "metrics": {"eval_loss": 0.1}},
        WorkerPath.FAIL: {"attempt": attempt, "error": "failed on purpose"},
        WorkerPath.CANCELLED: {"attempt": attempt, "step": 2},
    }


def _nothing_recorded(session, job_id: int) -> None:
    session.expire_all()
    job = session.get(Job, job_id)
    assert (job.status, job.step, job.error) == ("running", 0, None)
    for table in (JobMetric, JobLog, ItemDynamics, EvalPrediction):
        count = session.scalar(select(func.count()).select_from(table).filter_by(job_id=job_id))
        assert count == 0, table.__tablename__


@pytest.fixture
def claimed(client, db_session):
    """A job claimed by token A; token B is another worker's."""
    api = WorkerApi(client, db_session)
    job_id = api.launched()
    first, second = api.worker(), api.worker()
    assert api.claim(first, "a")["job_id"] == job_id
    db_session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    return api, job_id, first, second


def test_another_token_cannot_speak_for_the_job(claimed):
    api, job_id, _first, second = claimed
    for path, body in _reports(api, attempt=1).items():
        response = api.post(path, second, job_id, body)
        assert response.status_code == 403, (path, response.text)
        assert "does not hold job" in error_sentence(response), path
    _nothing_recorded(api.session, job_id)


def test_another_token_cannot_read_the_jobs_dataset(claimed):
    api, _job_id, first, second = claimed
    for what in ("manifest", "train", "eval"):
        refused = api.read(second, api.version.id, what)
        assert refused.status_code == 403, refused.text
        assert "runs no job on dataset version" in error_sentence(refused)
        assert api.read(first, api.version.id, what).status_code == 200


def test_a_token_reads_only_its_own_jobs_version(claimed):
    api, _job_id, first, _second = claimed
    other = freezing.create_version(
        session=api.session,
        project=api.project,
        name="not yours",
        f=VersionFilter(),
        actor=api.admin_user,
    )
    api.launched(other.id)  # queued, claimed by nobody
    for what in ("manifest", "train"):
        assert api.read(first, other.id, what).status_code == 403


def test_the_claiming_token_speaks_for_its_job(claimed):
    api, job_id, first, _second = claimed
    for path, body in _reports(api, attempt=1).items():
        if path in (WorkerPath.COMPLETE, WorkerPath.FAIL, WorkerPath.CANCELLED):
            continue
        response = api.post(path, first, job_id, body)
        assert response.status_code == 200, (path, response.text)
    done = api.post(WorkerPath.CANCELLED, first, job_id, {"attempt": 1, "step": 2})
    assert done.json()["status"] == "cancelled"


def test_after_the_lease_runs_out_the_first_token_loses_the_job(claimed):
    api, job_id, first, second = claimed
    api.session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(cancel_requested=False, lease_until=utcnow() - timedelta(seconds=1))
    )
    spec = api.claim(second, "b")
    assert (spec["job_id"], spec["attempt"]) == (job_id, 2)
    for attempt in (1, 2):  # its own attempt, or the new one it learnt somehow
        for path, body in _reports(api, attempt).items():
            response = api.post(path, first, job_id, body)
            assert response.status_code == 403, (attempt, path, response.text)
    assert api.read(first, api.version.id).status_code == 403
    assert api.read(second, api.version.id).status_code == 200
    beat = api.post(WorkerPath.HEARTBEAT, second, job_id, {"attempt": 2, "step": 1})
    assert beat.status_code == 200, beat.text


def test_a_requeued_job_belongs_to_nobody(claimed):
    """Between the lease running out and the next claim, the old token holds nothing."""
    api, job_id, first, _second = claimed
    api.session.execute(
        update(Job).where(Job.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1))
    )
    assert queue.requeue_expired(session=api.session) == 1
    response = api.post(WorkerPath.HEARTBEAT, first, job_id, {"attempt": 1, "step": 1})
    assert response.status_code == 403, response.text
    assert api.read(first, api.version.id).status_code == 403
