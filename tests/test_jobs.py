"""The job queue and the worker protocol over HTTP: launch validation, claim, heartbeats,
reports refused when malformed or out of order, requeue after a lost lease, cancel, retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.datasets import freezing
from app.datasets.versions import VersionFilter
from app.models import Job, JobMetric, Project
from app.models.base import utcnow
from tests.dataset_factories import approved_project
from tests.factories import join, make_token, make_user


@pytest.fixture
def version(db_session):
    project, admin, _ = approved_project(db_session, name="Jobs project")
    return freezing.create_version(
        session=db_session, project=project, name="v", f=VersionFilter(), actor=admin
    ), admin


@pytest.fixture
def headers(db_session, version):
    _, admin = version
    return (
        {"Authorization": f"Bearer {make_token(db_session, scope='user', owner=admin)}"},
        {"Authorization": f"Bearer {make_token(db_session, scope='worker')}"},
    )


def _launch(client, admin_headers, version_id, **params):
    return client.post(
        "/api/v1/jobs",
        headers=admin_headers,
        json={
            "dataset_version_id": version_id,
            "base_model": "tiny",
            "params": {"max_steps": 5, **params},
        },
    )


def _claim(client, worker_headers, name="gpu-1"):
    return client.post("/api/v1/worker/jobs/claim", headers=worker_headers, json={"worker": name})


class TestLaunch:
    def test_bad_parameters_name_the_field(self, client, version, headers):
        v, _ = version
        admin, _worker = headers
        response = _launch(client, admin, v.id, learning_rate=-1, method="qlora")
        assert response.status_code == 422
        fields = {e["field"] for e in response.json()["detail"]}
        assert {"params.learning_rate", "params.method"} <= fields
        bad_model = client.post(
            "/api/v1/jobs",
            headers=admin,
            json={"dataset_version_id": v.id, "base_model": "not a model id"},
        )
        assert bad_model.status_code == 422
        assert bad_model.json()["detail"][0]["field"] == "base_model"

    def test_reviewers_cannot_launch(self, client, db_session, version):
        v, _ = version
        reviewer = make_user(db_session, role="reviewer")
        join(db_session, db_session.get(Project, v.project_id), reviewer)
        token = make_token(db_session, scope="user", owner=reviewer)
        response = _launch(client, {"Authorization": f"Bearer {token}"}, v.id)
        assert response.status_code == 403


class TestWorkerProtocol:
    def test_claim_report_and_complete(self, client, db_session, version, headers):
        v, _ = version
        admin, worker = headers
        job_id = _launch(client, admin, v.id).json()["id"]
        spec = _claim(client, worker).json()
        assert (spec["job_id"], spec["attempt"], spec["base_model"]) == (job_id, 1, "tiny")
        assert _claim(client, worker).status_code == 204  # nothing else queued
        beat = client.post(
            f"/api/v1/worker/jobs/{job_id}/heartbeat",
            headers=worker,
            json={"attempt": 1, "step": 2, "total_steps": 5, "epoch": 0.4},
        )
        assert beat.json() == {"cancel": False, "lease_seconds": 120}
        metrics = client.post(
            f"/api/v1/worker/jobs/{job_id}/metrics",
            headers=worker,
            json={
                "attempt": 1,
                "points": [
                    {"step": 1, "name": "train/loss", "value": 3.2},
                    {"step": 2, "name": "train/loss", "value": 2.9},
                ],
            },
        )
        assert metrics.json() == {"recorded": 2}
        done = client.post(
            f"/api/v1/worker/jobs/{job_id}/complete",
            headers=worker,
            json={"attempt": 1, "metrics": {"eval/loss": 2.5}},
        )
        assert done.json()["status"] == "succeeded"
        series = client.get(f"/api/v1/jobs/{job_id}/metrics", headers=admin).json()
        assert series == {"train/loss": [[1, 3.2], [2, 2.9]]}

    def test_malformed_and_out_of_order_reports_record_nothing(
        self, client, db_session, version, headers
    ):
        v, _ = version
        admin, worker = headers
        job_id = _launch(client, admin, v.id).json()["id"]
        _claim(client, worker)
        url = f"/api/v1/worker/jobs/{job_id}/metrics"
        malformed = client.post(
            url,
            headers=worker,
            json={"attempt": 1, "points": [{"step": 1, "name": "train/loss", "value": "high"}]},
        )
        assert malformed.status_code == 422
        client.post(
            url,
            headers=worker,
            json={"attempt": 1, "points": [{"step": 5, "name": "train/loss", "value": 1.0}]},
        )
        backwards = client.post(
            url,
            headers=worker,
            json={
                "attempt": 1,
                "points": [
                    {"step": 6, "name": "train/loss", "value": 1.0},
                    {"step": 3, "name": "train/loss", "value": 1.1},
                ],
            },
        )
        assert backwards.status_code == 422
        stale = client.post(
            url,
            headers=worker,
            json={"attempt": 7, "points": [{"step": 9, "name": "train/loss", "value": 1.0}]},
        )
        assert stale.status_code == 409
        count = db_session.scalar(select(func.count()).select_from(JobMetric))
        assert count == 1

    def test_bad_or_revoked_worker_token_is_refused(self, client, db_session, version, headers):
        admin, _ = headers
        assert (
            client.post(
                "/api/v1/worker/jobs/claim",
                json={"worker": "x"},
                headers={"Authorization": "Bearer st_wrong"},
            ).status_code
            == 401
        )
        assert (
            client.post(
                "/api/v1/worker/jobs/claim", json={"worker": "x"}, headers=admin
            ).status_code
            == 403
        )  # a person's token

    def test_expired_lease_requeues_with_another_attempt(
        self, client, db_session, version, headers, settings
    ):
        v, _ = version
        admin, worker = headers
        job_id = _launch(client, admin, v.id).json()["id"]
        _claim(client, worker, "dies")
        folder = settings.resolved_artifacts_dir / "jobs" / str(job_id) / "checkpoints"
        (folder / "step-3").mkdir(parents=True)
        beat = client.post(
            f"/api/v1/worker/jobs/{job_id}/heartbeat",
            headers=worker,
            json={"attempt": 1, "step": 3, "checkpoint": "step-3"},
        )
        assert beat.status_code == 200
        db_session.execute(
            update(Job).where(Job.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1))
        )
        spec = _claim(client, worker, "rescuer").json()
        assert (spec["attempt"], spec["resume_from"]) == (2, "step-3")
        late = client.post(
            f"/api/v1/worker/jobs/{job_id}/heartbeat",
            headers=worker,
            json={"attempt": 1, "step": 4},
        )
        assert late.status_code == 409  # the first worker's messages are refused now

    def test_last_attempt_lost_fails_the_job(self, client, db_session, version, headers):
        v, _ = version
        admin, worker = headers
        job_id = _launch(client, admin, v.id).json()["id"]
        db_session.execute(update(Job).where(Job.id == job_id).values(max_attempts=1))
        _claim(client, worker)
        db_session.execute(
            update(Job).where(Job.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1))
        )
        assert _claim(client, worker).status_code == 204
        job = client.get(f"/api/v1/jobs/{job_id}", headers=admin).json()
        assert job["status"] == "failed" and "stopped responding" in job["error"]

    def test_cancel_running_then_retry(self, client, db_session, version, headers):
        v, _ = version
        admin, worker = headers
        job_id = _launch(client, admin, v.id).json()["id"]
        _claim(client, worker)
        assert (
            client.post(f"/api/v1/jobs/{job_id}/cancel", headers=admin).json()["cancel_requested"]
            is True
        )
        reply = client.post(
            f"/api/v1/worker/jobs/{job_id}/heartbeat",
            headers=worker,
            json={"attempt": 1, "step": 1},
        )
        assert reply.json()["cancel"] is True
        stopped = client.post(
            f"/api/v1/worker/jobs/{job_id}/cancelled",
            headers=worker,
            json={"attempt": 1, "step": 1},
        )
        assert stopped.json()["status"] == "cancelled"
        retried = client.post(f"/api/v1/jobs/{job_id}/retry", headers=admin)
        assert retried.status_code == 201
        assert (retried.json()["parent_id"], retried.json()["status"]) == (job_id, "queued")
