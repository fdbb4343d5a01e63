"""Reviewing over HTML and the API: decisions, the keyboard walk back, reopen, the inbox, the
changes-requested loop and the history."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import AuditEvent, Project
from app.reviews import service
from app.reviews.service import QueueFilter
from tests.factories import make_token, make_user
from tests.helpers import login
from tests.review_factories import make_item, make_project


class TestPages:
    def test_author_cannot_approve_own_item_over_html_and_api(self, client, db_session, admin_user):
        reviewer = make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[reviewer])
        item = make_item(db_session, project, reviewer)
        csrf = login(client, reviewer.email)
        page = client.post(
            f"/items/{item.id}/review",
            data={"csrf_token": csrf, "decision": "approve", "version": item.version},
        )
        assert page.status_code == 403
        token = make_token(db_session, scope="user", owner=reviewer)
        api = client.post(
            f"/api/v1/items/{item.id}/review",
            headers={"Authorization": f"Bearer {token}"},
            json={"decision": "approve", "version": item.version},
        )
        assert api.status_code == 403
        assert api.json()["error"] == "forbidden"

    def test_decide_over_html_then_land_on_the_next_item(self, client, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[author, reviewer])
        one = make_item(db_session, project, author, text="The first one to review here.")
        two = make_item(db_session, project, author, text="The second one to review here.")
        csrf = login(client, reviewer.email)
        start = client.post(f"/projects/{project.id}/review/next", data={"csrf_token": csrf})
        assert start.headers["location"] == f"/items/{one.id}/review"
        page = client.get(f"/items/{one.id}/review")
        assert 'id="decision-form"' in page.text and "Cats sleep a lot." in page.text
        done = client.post(
            f"/items/{one.id}/review",
            data={"csrf_token": csrf, "decision": "approve", "version": one.version},
        )
        assert done.headers["location"] == f"/items/{two.id}/review"
        missing_reason = client.post(
            f"/items/{two.id}/review",
            data={"csrf_token": csrf, "decision": "reject", "version": two.version},
        )
        assert missing_reason.status_code == 422
        assert 'id="review-error"' in missing_reason.text

    def test_illegal_move_over_the_api_is_409_with_a_sentence(self, client, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[author, reviewer])
        item = make_item(db_session, project, author, submit=False)
        token = make_token(db_session, scope="user", owner=reviewer)
        response = client.post(
            f"/api/v1/items/{item.id}/review",
            headers={"Authorization": f"Bearer {token}"},
            json={"decision": "approve", "version": item.version},
        )
        assert response.status_code == 409
        assert response.json() == {
            "error": "conflict",
            "detail": "Only a submitted item can be approved; this one is draft.",
        }
        reopen = client.post(
            f"/api/v1/items/{item.id}/reopen",
            headers={"Authorization": f"Bearer {token}"},
            json={"reason": "other"},
        )
        assert reopen.status_code == 409
        assert reopen.json()["detail"].endswith("this one is draft.")

    def test_k_walks_back_through_my_decisions(self, client, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[author, reviewer])
        ids = []
        for n in range(3):
            item = make_item(db_session, project, author, text=f"Decided item number {n} here.")
            service.decide(
                session=db_session,
                item_id=item.id,
                reviewer=reviewer,
                decision="approve",
                version=item.version,
            )
            ids.append(item.id)
        waiting = make_item(db_session, project, author, text="Still waiting for a decision.")
        login(client, reviewer.email)

        def previous(item_id):
            page = client.get(f"/items/{item_id}/review")
            link = re.search(r'href="/items/(\d+)/review" data-previous', page.text)
            return int(link.group(1)) if link else None

        assert previous(waiting.id) == ids[2]
        assert previous(ids[2]) == ids[1]
        assert previous(ids[1]) == ids[0]
        assert previous(ids[0]) is None

    def test_reopen_over_html_shows_the_reason_and_the_link(self, client, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        first = make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[author, reviewer, first])
        item = make_item(db_session, project, author)
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=first,
            decision="approve",
            version=item.version,
        )
        csrf = login(client, reviewer.email)
        done = client.post(
            f"/items/{item.id}/reopen",
            data={"csrf_token": csrf, "reason": "factual_error", "comment": "Paris moved?"},
        )
        assert done.status_code == 303
        db_session.refresh(item)
        assert item.status == "submitted"
        event = db_session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "review.reopen", AuditEvent.entity_id == str(item.id)
            )
        )
        assert event.before["status"] == "approved" and event.after["status"] == "submitted"
        assert event.after["reason"] == "factual_error"
        page = client.get(f"/items/{item.id}/review")
        banner = page.text.split('id="reopen-reason"')[1].split("</p>")[0]
        assert "factual error" in banner and "Paris moved?" in banner
        project = db_session.get(Project, item.project_id)
        flagged = make_item(db_session, project, author, text="A hard one for the model.")
        service.decide(
            session=db_session,
            item_id=flagged.id,
            reviewer=reviewer,
            decision="approve",
            version=flagged.version,
        )
        service.reopen(
            session=db_session,
            item_id=flagged.id,
            actor=admin_user,
            reason="flagged_by_training",
            link="/jobs/3/datamap",
        )
        page = client.get(f"/items/{flagged.id}/review")
        banner = page.text.split('id="reopen-reason"')[1].split("</p>")[0]
        assert "flagged by training" in banner and 'href="/jobs/3/datamap"' in banner

    def test_inbox_shows_the_reviewers_comment(self, client, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[author, reviewer])
        item = make_item(db_session, project, author)
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=reviewer,
            decision="request_changes",
            version=item.version,
            reason="unclear_instruction",
            comment="Which <b>paragraph</b>?",
        )
        login(client, author.email)
        page = client.get("/inbox")
        assert f'data-item="{item.id}"' in page.text
        assert "Which &lt;b&gt;paragraph&lt;/b&gt;?" in page.text

    def test_changes_requested_loop_over_html(self, client, db_session, admin_user):
        author = make_user(db_session)
        asker, other = (
            make_user(db_session, role="reviewer"),
            make_user(db_session, role="reviewer"),
        )
        project = make_project(db_session, admin_user, members=[author, asker, other])
        older = make_item(db_session, project, author, text="An older item in the queue.")
        item = make_item(db_session, project, author, text="Summarise it, whatever it is.")
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=asker,
            decision="request_changes",
            version=item.version,
            reason="unclear_instruction",
            comment="Which paragraph?",
        )
        db_session.refresh(item)
        csrf = login(client, author.email)
        inbox = client.get("/inbox").text
        entry = inbox.split(f'data-item="{item.id}"')[1].split("</section>")[0]
        assert "Which paragraph?" in entry and "Summarise it, whatever it is." in entry
        assert f'href="/items/{item.id}/edit"' in entry
        # The editor shows the request beside the text being fixed.
        editor = client.get(f"/items/{item.id}/edit").text
        note = editor.split('id="sent-back"')[1].split("</section>")[0]
        assert "Which paragraph?" in note and "unclear instruction" in note
        resubmitted = client.post(
            f"/items/{item.id}",
            data={
                "kind": "task",
                "instruction": "Summarise the first paragraph in one line.",
                "input": "Cats sleep a lot.",
                "output": "Cats sleep.",
                "action": "submit",
                "version": str(item.version),
                "csrf_token": csrf,
            },
        )
        assert resubmitted.status_code == 303
        db_session.refresh(item)
        assert item.status == "submitted"
        assert f'data-item="{item.id}"' not in client.get("/inbox").text
        assert 'id="sent-back"' not in client.get(f"/items/{item.id}/edit").text
        f = QueueFilter(project_id=project.id)
        assert service.claim_next(session=db_session, reviewer=asker, f=f).id == item.id
        assert service.claim_next(session=db_session, reviewer=other, f=f).id == older.id

    def test_history_diff_and_restore(self, client, db_session, admin_user):
        author = make_user(db_session)
        item = make_item(
            db_session,
            make_project(db_session, admin_user, members=[author]),
            author,
            text="我喜欢机器学习和翻译",
            submit=False,
        )
        draft = ItemDraft(kind="task", instruction="我喜欢深度学习和翻译", output="好")
        edited_version = items.update_item(
            session=db_session,
            item_id=item.id,
            draft=draft,
            expected_version=item.version,
            editor=author,
        ).version
        csrf = login(client, author.email)
        page = client.get(f"/items/{item.id}/history")
        assert page.status_code == 200
        assert "<del>机器</del>" in page.text and "<ins>深度</ins>" in page.text
        restored = client.post(
            f"/items/{item.id}/restore",
            data={"csrf_token": csrf, "version": 1, "current": edited_version},
        )
        assert restored.status_code == 303
        db_session.refresh(item)
        assert item.instruction == "我喜欢机器学习和翻译"
        assert item.version == edited_version + 1
