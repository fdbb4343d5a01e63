"""The audit page and its CSV export; project statistics."""

from __future__ import annotations

import csv
import io

from app.reviews import service as reviews
from tests.factories import make_user
from tests.helpers import login
from tests.review_factories import make_item, make_project


class TestAuditPage:
    def test_filters_and_csv(self, client, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        item = make_item(db_session, make_project(db_session, admin_user), author)
        reviews.decide(
            session=db_session,
            item_id=item.id,
            reviewer=reviewer,
            decision="reject",
            version=item.version,
            reason="duplicate",
            comment="Same as #1, «dup»",
        )
        login(client, admin_user.email)
        page = client.get("/admin/audit", params={"action": "review.reject"})
        assert page.status_code == 200
        assert "review.reject" in page.text and reviewer.email in page.text
        assert "item.submitted" not in page.text.split('id="audit-table"')[1]
        by_actor = client.get("/admin/audit", params={"actor": author.email})
        assert (
            "item.submitted" in by_actor.text
            and "review.reject" not in by_actor.text.split('id="audit-table"')[1]
        )
        export = client.get(
            "/admin/audit.csv", params={"entity_type": "item", "entity_id": str(item.id)}
        )
        assert export.status_code == 200
        assert export.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(export.text)))
        assert [r["action"] for r in rows] == ["item.submitted", "review.reject"]
        assert "«dup»" in rows[1]["after"]

    def test_login_events_are_audited(self, client, db_session, admin_user):
        login(client, admin_user.email)
        page = client.get("/admin/audit", params={"action": "login.succeeded"})
        assert admin_user.email in page.text


class TestStats:
    def test_dashboard_numbers(self, client, db_session, admin_user):
        author = make_user(db_session, email="writer@example.org")
        a = make_user(db_session, role="reviewer", email="ra@example.org")
        b = make_user(db_session, role="reviewer", email="rb@example.org")
        project = make_project(db_session, admin_user, approvals=2)
        one = make_item(db_session, project, author, text="First instruction for stats.")
        two = make_item(db_session, project, author, text="Second instruction for stats.")
        make_item(db_session, project, author, text="A draft that is not submitted.", submit=False)
        for reviewer in (a, b):
            reviews.decide(
                session=db_session,
                item_id=one.id,
                reviewer=reviewer,
                decision="approve",
                version=one.version,
            )
        reviews.decide(
            session=db_session, item_id=two.id, reviewer=a, decision="approve", version=two.version
        )
        reviews.decide(
            session=db_session,
            item_id=two.id,
            reviewer=b,
            decision="reject",
            version=two.version,
            reason="factual_error",
        )
        login(client, a.email)
        page = client.get(f"/projects/{project.id}/stats")
        assert page.status_code == 200
        table = page.text.split('id="annotator-stats"')[1].split("</table>")[0]
        # writer: 3 written, 2 submitted, 3 of 4 decisions approvals → 75%
        assert "writer@example.org" in table and ">3<" in table and ">2<" in table
        assert "75%" in table and "factual error (1)" in table
        reviewers_table = page.text.split('id="reviewer-stats"')[1].split("</table>")[0]
        assert "50% (2)" in reviewers_table  # a and b agreed on one of the two shared items
        assert 'id="throughput-chart"' in page.text
