"""The JSON API for a job's figures, as its pages show them: results overall and per kind,
predictions page by page, the data map, and sending items back to review."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.datasets import versions
from app.models import AuditEvent, Item
from tests.api_helpers import member, outsider, refused
from tests.job_factories import project_version, run_job


@pytest.fixture
def versioned(db_session):
    """A project of approved items and one frozen version: (project, admin, version)."""
    return project_version(db_session, name="API jobs")


class TestJobs:
    @pytest.fixture
    def ran(self, db_session, versioned):
        """A finished job: (project, job, its training item ids)."""
        project, admin, version = versioned
        job, train = run_job(db_session, version, admin)
        return project, job, train

    def test_results_overall_and_per_kind(self, client, db_session, ran):
        project, job, _ = ran
        response = client.get(
            f"/api/v1/jobs/{job.id}/results", headers=member(db_session, project, "reviewer")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "succeeded" and body["eval_items"] > 0
        assert body["headline"]["eval_loss"] == 1.7 and body["headline"]["tuned_f1"] == 0.8
        overall = {row["metric"]: row for row in body["overall"]}
        assert overall["exact_match"]["base"] == 0.0
        assert overall["exact_match"]["delta"] == overall["exact_match"]["tuned"] > 0
        assert set(body["per_kind"]) <= {"task", "constraint", "example"}
        assert body["per_kind"]

    def test_predictions_page_by_cursor(self, client, db_session, ran):
        project, job, _ = ran
        headers = member(db_session, project, "reviewer")
        url = f"/api/v1/jobs/{job.id}/predictions"
        seen, after = [], 0
        while True:
            page = client.get(url, params={"limit": 2, "after": after}, headers=headers).json()
            seen += page["predictions"]
            if page["next_cursor"] is None:
                break
            assert len(page["predictions"]) == 2
            after = page["next_cursor"]
        everything = client.get(url, params={"limit": 500}, headers=headers).json()
        assert seen == everything["predictions"] and len(seen) >= 3
        assert all(p["base_output"] == "no idea" for p in seen)
        constraint = [p for p in seen if p["kind"] == "constraint"]
        for p in constraint:
            assert p["constraints"] == [
                {"id": "punctuation:no_comma", "base": True, "tuned": False}
            ]
        broken = client.get(url, params={"show": "broken"}, headers=headers).json()
        assert [p["item_id"] for p in broken["predictions"]] == [p["item_id"] for p in constraint]

    def test_datamap_has_a_point_per_training_item(self, client, db_session, versioned):
        project, admin, version = versioned
        first = [link.item_id for link, _ in versions.pinned(db_session, version.id, "train")][0]
        job, train = run_job(db_session, version, admin, hard={first})
        assert train[0] == first
        response = client.get(
            f"/api/v1/jobs/{job.id}/datamap", headers=member(db_session, project, "reviewer")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        points = {p["item_id"]: p for p in body["points"]}
        assert sorted(points) == sorted(train)
        assert points[train[0]]["region"] == "hard" and points[train[0]]["epochs"] == 3
        assert points[train[0]]["confidence"] == pytest.approx(0.07)
        assert sum(body["counts"].values()) == len(train)

    def test_send_back_reopens_approved_items_once(self, client, db_session, ran):
        project, job, train = ran
        headers = member(db_session, project, "reviewer")
        url = f"/api/v1/jobs/{job.id}/send-back"
        body = {"item_ids": train[:2], "comment": "Check the outputs."}
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"reopened": sorted(train[:2]), "skipped": []}
        for item_id in train[:2]:
            assert db_session.get(Item, item_id).status == "submitted"
        again = client.post(url, json=body, headers=headers).json()
        assert again["reopened"] == []
        assert again["skipped"] == [
            {"item_id": i, "status": "submitted"} for i in sorted(train[:2])
        ]
        sent = db_session.scalars(
            select(AuditEvent).where(AuditEvent.action == "job.sent_back")
        ).all()
        assert len(sent) == 2

    def test_send_back_refuses_an_annotator_and_a_stranger_item(self, client, db_session, ran):
        project, job, train = ran
        url = f"/api/v1/jobs/{job.id}/send-back"
        body = {"item_ids": train[:1]}
        refused(
            client.post(url, json=body, headers=member(db_session, project, "annotator")),
            403,
            "forbidden",
        )
        reviewer = member(db_session, project, "reviewer")
        refused(client.post(url, json={"item_ids": [999999]}, headers=reviewer), 422, "invalid")
        refused(
            client.get(f"/api/v1/jobs/{job.id}/results", headers=outsider(db_session)),
            404,
            "not_found",
        )
