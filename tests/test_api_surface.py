"""The JSON API does what the pages do: dataset versions and duplicates, an item's history and
restore, the audit trail, the dashboard and agreement figures, and a job's results, data map
and send-back. Each answers with the page's figures, and refuses whom the page refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.items import service as items
from app.items.schemas import ItemDraft, LabelIn
from app.labeling import service as labeling
from app.models import Item
from app.reviews import service as reviews
from tests.api_helpers import bearer, member, outsider, refused
from tests.dataset_factories import make_duplicates
from tests.factories import join, make_user
from tests.job_factories import project_version
from tests.review_factories import make_project


@pytest.fixture
def versioned(db_session):
    """A project of approved items and one frozen version: (project, admin, version)."""
    return project_version(db_session, name="API surface")


class TestDatasets:
    def test_a_reviewer_lists_the_versions_newest_first(self, client, db_session, versioned):
        project, admin, version = versioned
        response = client.get(
            f"/api/v1/projects/{project.id}/datasets",
            headers=member(db_session, project, "reviewer"),
        )
        assert response.status_code == 200, response.text
        (row,) = response.json()
        assert row["id"] == version.id and row["name"] == "v1"
        assert (row["train_count"], row["eval_count"]) == (version.train_count, version.eval_count)
        assert row["train_count"] + row["eval_count"] == 16
        assert row["manifest_hash"] == version.manifest_hash and len(row["manifest_hash"]) == 64
        assert row["license"] == "" and row["created_at"]

    def test_a_non_member_gets_404(self, client, db_session, versioned):
        project, *_ = versioned
        response = client.get(
            f"/api/v1/projects/{project.id}/datasets", headers=outsider(db_session)
        )
        refused(response, 404, "not_found")

    def test_duplicates_show_exact_and_near_clusters(self, client, db_session):
        admin, author = make_user(db_session, role="admin"), make_user(db_session)
        project = make_project(db_session, admin, name="API dups", members=[author])
        near, same = make_duplicates(db_session, project, author)
        url = f"/api/v1/projects/{project.id}/duplicates"
        response = client.get(url, headers=member(db_session, project, "reviewer"))
        assert response.status_code == 200, response.text
        body = response.json()
        (exact,) = body["exact"]
        assert exact["kind"] == "exact" and exact["similarity"] == 1.0
        assert [i["id"] for i in exact["items"]] == [same[0].id, same[1].id]
        assert exact["items"][0] == {
            "id": same[0].id,
            "status": "draft",
            "version": 1,
            "instruction": "Say hi.",
        }
        (close,) = body["near"]
        assert [i["id"] for i in close["items"]] == [near[0].id, near[1].id]
        assert 0.5 <= close["similarity"] < 1
        refused(client.get(url, headers=member(db_session, project, "annotator")), 403, "forbidden")


class TestHistory:
    @pytest.fixture
    def edited(self, db_session):
        """An item an annotator submitted and then edited (a draft would be theirs alone):
        (project, author, item)."""
        admin, author = make_user(db_session, role="admin"), make_user(db_session)
        author.display_name = "Ann Author"
        project = make_project(db_session, admin, name="API history", members=[author])
        item = items.create_item(
            session=db_session,
            project=project,
            author=author,
            submit=True,
            draft=ItemDraft(kind="task", instruction="Name a colour.", output="Blue."),
        )
        items.update_item(
            session=db_session,
            item_id=item.id,
            draft=ItemDraft(kind="task", instruction="Name a fruit.", output="Apple."),
            expected_version=1,
            editor=author,
        )
        return project, author, item

    def test_revisions_newest_first_with_editor_and_snapshot(self, client, db_session, edited):
        project, author, item = edited
        response = client.get(
            f"/api/v1/items/{item.id}/history", headers=member(db_session, project, "annotator")
        )
        assert response.status_code == 200, response.text
        newest, oldest = response.json()
        assert (newest["version"], oldest["version"]) == (2, 1)
        assert newest["editor_id"] == author.id and newest["editor"] == "Ann Author"
        assert newest["snapshot"]["instruction"] == "Name a fruit."
        assert oldest["snapshot"]["output"] == "Blue."
        assert newest["content_hash"] != oldest["content_hash"]

    def test_restore_saves_the_old_content_as_a_new_version(self, client, db_session, edited):
        project, author, item = edited
        response = client.post(
            f"/api/v1/items/{item.id}/restore",
            json={"revision": 1, "version": 2},
            headers=bearer(db_session, author),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["version"], body["instruction"], body["output"]) == (
            3,
            "Name a colour.",
            "Blue.",
        )
        history = client.get(f"/api/v1/items/{item.id}/history", headers=bearer(db_session, author))
        assert [r["version"] for r in history.json()] == [3, 2, 1]

    def test_a_stale_version_is_409_and_changes_nothing(self, client, db_session, edited):
        project, author, item = edited
        response = client.post(
            f"/api/v1/items/{item.id}/restore",
            json={"revision": 1, "version": 1},
            headers=bearer(db_session, author),
        )
        refused(response, 409, "conflict")
        db_session.refresh(item)
        assert (item.version, item.instruction) == (2, "Name a fruit.")

    def test_a_non_member_gets_404(self, client, db_session, edited):
        _, _, item = edited
        refused(
            client.get(f"/api/v1/items/{item.id}/history", headers=outsider(db_session)),
            404,
            "not_found",
        )


class TestAudit:
    def test_admin_filters_and_pages(self, client, db_session, admin_user):
        project = make_project(db_session, admin_user, name="API audit")
        item = items.create_item(
            session=db_session,
            project=project,
            author=admin_user,
            draft=ItemDraft(kind="task", instruction="Name a colour.", output="Blue."),
        )
        for n in range(3):
            items.update_item(
                session=db_session,
                item_id=item.id,
                draft=ItemDraft(kind="task", instruction=f"Name colour {n}.", output="Blue."),
                expected_version=n + 1,
                editor=admin_user,
            )
        headers = bearer(db_session, admin_user)
        query = {"action": "item.updated", "entity_id": str(item.id), "limit": 2}
        first = client.get("/api/v1/audit", params=query, headers=headers)
        assert first.status_code == 200, first.text
        page = first.json()
        assert [e["after"]["instruction"] for e in page["events"]] == [
            "Name colour 2.",
            "Name colour 1.",
        ]
        assert all(e["actor_label"] == admin_user.email for e in page["events"])
        assert {"item.updated", "item.created"} <= set(page["actions"])
        second = client.get(
            "/api/v1/audit", params={**query, "after": page["next_cursor"]}, headers=headers
        ).json()
        assert [e["after"]["instruction"] for e in second["events"]] == ["Name colour 0."]
        assert second["next_cursor"] is None
        future = client.get(
            "/api/v1/audit", params={**query, "date_from": "2999-01-01"}, headers=headers
        )
        assert future.json()["events"] == []

    def test_a_non_admin_gets_403(self, client, db_session):
        refused(
            client.get("/api/v1/audit", headers=bearer(db_session, make_user(db_session))),
            403,
            "forbidden",
        )

    def test_the_last_day_is_refused_as_input(self, client, db_session, admin_user):
        response = client.get(
            "/api/v1/audit",
            params={"date_to": "9999-12-31"},
            headers=bearer(db_session, admin_user),
        )
        refused(response, 422, "validation_error")


class TestFigures:
    def test_stats_are_the_dashboard_figures(self, client, db_session, versioned):
        project, *_ = versioned
        response = client.get(
            f"/api/v1/projects/{project.id}/stats", headers=member(db_session, project, "reviewer")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["by_status"] == {"approved": 16}
        (annotator,) = body["annotators"]
        assert (annotator["written"], annotator["approved"], annotator["decided"]) == (16, 16, 16)
        assert annotator["approval_rate"] == 1.0
        (reviewer,) = body["reviewers"]
        assert reviewer["decisions"] == {"approve": 16}
        assert len(body["throughput"]["days"]) == 30
        assert sum(body["throughput"]["created"]) == 16
        assert body["content"]["total"] == 16
        assert body["content"]["counts"]["kind"] == {"task": 8, "constraint": 4, "example": 4}

    def test_stats_refuse_an_annotator_member(self, client, db_session, versioned):
        project, *_ = versioned
        response = client.get(
            f"/api/v1/projects/{project.id}/stats", headers=member(db_session, project, "annotator")
        )
        refused(response, 403, "forbidden")

    def test_agreement_per_field(self, client, db_session, versioned):
        project, *_ = versioned
        first, second = (
            make_user(db_session, email="a1@example.org"),
            make_user(db_session, email="a2@example.org"),
        )
        join(db_session, project, first, second)
        project.labeling_overlap = 2  # both label every item
        labeled = list(
            db_session.scalars(select(Item).where(Item.project_id == project.id).limit(3))
        )
        for person in (first, second):
            for n, item in enumerate(labeled):
                labeling.submit_label(
                    session=db_session,
                    project=project,
                    item=item,
                    annotator=person,
                    data=LabelIn(kind=item.kind, difficulty=2, quality=1 + n),
                )
        url = f"/api/v1/projects/{project.id}/agreement"
        response = client.get(url, headers=member(db_session, project, "reviewer"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["labels"], body["annotators"], body["items"]) == (6, 2, 3)
        fields = {f["field"]: f for f in body["fields"]}
        assert fields["quality"]["level"] == "ordinal"
        assert fields["quality"]["alpha"]["alpha"] == pytest.approx(1.0)
        (pair,) = fields["quality"]["pairs"]
        assert {pair["annotator_a"], pair["annotator_b"]} == {first.email, second.email}
        assert (pair["kappa"], pair["n"]) == (pytest.approx(1.0), 3)
        # Every difficulty is the same: alpha is undefined, and the answer says why.
        assert fields["difficulty"]["alpha"]["alpha"] is None
        assert fields["difficulty"]["alpha"]["reason"]
        refused(client.get(url, headers=outsider(db_session)), 404, "not_found")


def test_a_decision_shows_in_the_reviewer_figures(client, db_session, admin_user):
    """The dashboard counts what the review service records (not a copy of the page)."""
    author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, name="API stats", members=[author, reviewer])
    item = items.create_item(
        session=db_session,
        project=project,
        author=author,
        submit=True,
        draft=ItemDraft(kind="task", instruction="Name a colour.", output="Blue."),
    )
    reviews.decide(
        session=db_session,
        item_id=item.id,
        reviewer=reviewer,
        decision="reject",
        version=item.version,
        reason="factual_error",
    )
    body = client.get(
        f"/api/v1/projects/{project.id}/stats", headers=bearer(db_session, reviewer)
    ).json()
    assert body["by_status"] == {"rejected": 1}
    (annotator,) = body["annotators"]
    assert annotator["reasons"] == {"factual_error": 1} and annotator["approval_rate"] == 0.0
