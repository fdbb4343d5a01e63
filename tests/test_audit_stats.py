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
        project = make_project(db_session, admin_user, members=[author, reviewer])
        item = make_item(db_session, project, author)
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

    def test_role_changes_and_tokens_write_one_event_each(self, client, db_session, admin_user):
        from datetime import timedelta

        from sqlalchemy import select

        from app.models import AuditEvent
        from app.models.base import utcnow
        from app.tokens import service as tokens
        from app.users import service as users

        person = make_user(db_session, email="promoted@example.org")
        users.set_role(session=db_session, user_id=person.id, role="reviewer", actor=admin_user)
        issued = tokens.create_token(
            session=db_session, name="ci", scope="worker", owner=None, actor=admin_user
        )
        tokens.revoke_token(session=db_session, token_id=issued.token.id, actor=admin_user)

        def events(action):
            return db_session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()

        (role,) = events("user.role_changed")
        assert role.actor_id == admin_user.id and role.entity_id == str(person.id)
        assert role.before["role"] == "annotator" and role.after["role"] == "reviewer"
        (created,) = events("token.created")
        assert created.after == {"name": "ci", "scope": "worker"}
        assert issued.raw not in str(created.after)  # the secret is never logged
        (revoked,) = events("token.revoked")
        assert revoked.before == {"revoked": False} and revoked.after == {"revoked": True}

        login(client, admin_user.email)
        today = utcnow().date()
        page = client.get("/admin/audit", params={"date_from": str(today), "date_to": str(today)})
        table = page.text.split('id="audit-table"')[1]
        assert "user.role_changed" in table and "token.revoked" in table
        later = client.get("/admin/audit", params={"date_from": str(today + timedelta(days=1))})
        assert 'id="audit-table"' not in later.text


class TestStats:
    def test_dashboard_numbers(self, client, db_session, admin_user):
        author = make_user(db_session, email="writer@example.org")
        a = make_user(db_session, role="reviewer", email="ra@example.org")
        b = make_user(db_session, role="reviewer", email="rb@example.org")
        project = make_project(db_session, admin_user, approvals=2, members=[author, a, b])
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

    def test_rejection_reasons_and_time_to_decision(self, client, db_session, admin_user):
        author = make_user(db_session, email="timed@example.org")
        reviewer = make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[author, reviewer])
        kept = make_item(db_session, project, author, text="Approved, with a note attached.")
        sent = make_item(db_session, project, author, text="Sent back for a clearer ask.")
        reviews.decide(
            session=db_session,
            item_id=kept.id,
            reviewer=reviewer,
            decision="approve",
            version=kept.version,
            reason="other",
        )
        reviews.decide(
            session=db_session,
            item_id=sent.id,
            reviewer=reviewer,
            decision="request_changes",
            version=sent.version,
            reason="unclear_instruction",
        )
        login(client, reviewer.email)
        page = client.get(f"/projects/{project.id}/stats")
        row = page.text.split('id="annotator-stats"')[1].split("</tr>")[1]
        assert "timed@example.org" in row
        assert "unclear instruction (1)" in row and "other" not in row  # approvals aren't
        assert '<td class="num">0.0</td>' in row  # hours from submit to decision, not "—"
