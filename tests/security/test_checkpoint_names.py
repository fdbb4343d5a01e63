"""A worker cannot choose what the next worker resumes from. The heartbeat's checkpoint
becomes the next attempt's ``resume_from``; only the name of a real folder in the job's own
checkpoints folder (``step-<n>``) is accepted, never a path, another job's folder or a link."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.core.job_paths import WorkerPath
from app.models import Job
from app.models.base import utcnow
from tests.job_factories import WorkerApi, error_sentence


@pytest.fixture
def running(client, db_session, settings):
    """A claimed job with one real checkpoint (step-3), and another job with its own."""
    api = WorkerApi(client, db_session)
    job_id = api.launched()
    other_id = api.launched()
    worker = api.worker()
    assert api.claim(worker)["job_id"] == job_id
    jobs = settings.resolved_artifacts_dir / "jobs"
    (jobs / str(job_id) / "checkpoints" / "step-3").mkdir(parents=True)
    (jobs / str(other_id) / "checkpoints" / "step-1").mkdir(parents=True)
    return api, worker, job_id, other_id, jobs


def _beat(api, worker, job_id, checkpoint):
    body = {"attempt": 1, "step": 3, "checkpoint": checkpoint}
    return api.post(WorkerPath.HEARTBEAT, worker, job_id, body)


def _stored(db_session, job_id):
    db_session.expire_all()
    return db_session.get(Job, job_id).checkpoint


@pytest.mark.parametrize(
    "checkpoint",
    [
        "../x",
        "/etc/passwd",
        "step-1/../../x",
        "step-3/../step-3",
        "~/.cache",
        "",
        "step-3\x00",
    ],
)
def test_a_path_is_refused(running, db_session, checkpoint):
    api, worker, job_id, _other, _jobs = running
    response = _beat(api, worker, job_id, checkpoint)
    assert response.status_code == 422, response.text
    assert "step-<n>" in error_sentence(response)
    assert _stored(db_session, job_id) is None


def test_another_jobs_folder_is_refused(running, db_session):
    api, worker, job_id, other_id, _jobs = running
    for checkpoint in (f"../../{other_id}/checkpoints/step-1", str(other_id), "step-1"):
        response = _beat(api, worker, job_id, checkpoint)
        assert response.status_code == 422, (checkpoint, response.text)
        assert error_sentence(response)
    assert _stored(db_session, job_id) is None


def test_a_link_is_refused(running, db_session, tmp_path):
    api, worker, job_id, other_id, jobs = running
    checkpoints = jobs / str(job_id) / "checkpoints"
    os.symlink(jobs / str(other_id) / "checkpoints" / "step-1", checkpoints / "step-7")
    outside = tmp_path / "planted"
    outside.mkdir()
    os.symlink(outside, checkpoints / "step-8")
    for name in ("step-7", "step-8"):
        response = _beat(api, worker, job_id, name)
        assert response.status_code == 422, response.text
        assert "link" in error_sentence(response)
    assert _stored(db_session, job_id) is None


def test_a_linked_checkpoints_folder_is_refused(running, db_session):
    """The job's whole checkpoints folder swapped for a link to another job's."""
    api, worker, job_id, other_id, jobs = running
    checkpoints = jobs / str(job_id) / "checkpoints"
    (checkpoints / "step-3").rmdir()
    checkpoints.rmdir()
    os.symlink(jobs / str(other_id) / "checkpoints", checkpoints)
    response = _beat(api, worker, job_id, "step-1")
    assert response.status_code == 422, response.text
    assert _stored(db_session, job_id) is None


def test_a_real_checkpoint_name_is_what_the_next_attempt_resumes(running, db_session):
    api, worker, job_id, _other, _jobs = running
    response = _beat(api, worker, job_id, "step-3")
    assert response.status_code == 200, response.text
    assert _stored(db_session, job_id) == "step-3"
    db_session.execute(
        update(Job).where(Job.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1))
    )
    spec = api.claim(api.worker(), "rescuer")
    assert (spec["job_id"], spec["attempt"], spec["resume_from"]) == (job_id, 2, "step-3")


def test_a_path_stored_before_names_were_required_is_not_handed_on(running, db_session):
    api, _worker, job_id, _other, _jobs = running
    db_session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(checkpoint="/etc/passwd", lease_until=utcnow() - timedelta(seconds=1))
    )
    spec = api.claim(api.worker(), "rescuer")
    assert (spec["job_id"], spec["resume_from"]) == (job_id, None)
