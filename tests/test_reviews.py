"""The review workflow: the status machine as a table, approvals per version,
idempotent decisions, audit events, reopen, queue order and the pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.core import status as machine
from app.errors import Conflict, Forbidden
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import AuditEvent, Project, Review
from app.reviews import service
from app.reviews.service import QueueFilter
from tests.factories import make_token, make_user
from tests.helpers import login
from tests.review_factories import force_status, make_item, make_project

DRAFT = ItemDraft(
    kind="task",
    instruction="Summarise the paragraph in two lines.",
    input="Cats sleep a lot.",
    output="Cats sleep. A lot.",
)


def _audit_count(session, item_id) -> int:
    return session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.entity_type == "item", AuditEvent.entity_id == str(item_id))
    )


def _act(session, item, action, reviewer, author):
    if action == "submit":
        # Submitting an item as it is happens only in bulk, which skips what it may not
        # submit; a refusal here reads as the conflict a single item's refusal would be.
        if not items.bulk_submit(
            session=session, project_id=item.project_id, item_ids=[item.id], actor=author
        ):
            raise Conflict(machine.WHY_NOT["submit"], status=item.status)
        return item
    if action == "edit":
        return items.update_item(
            session=session,
            item_id=item.id,
            draft=DRAFT,
            expected_version=item.version,
            editor=author,
        )
    if action == "reopen":
        return service.reopen(session=session, item_id=item.id, actor=reviewer, reason="other")
    if action == "reject_duplicate":
        from app.datasets import duplicates

        return duplicates.resolve(
            session=session, project_id=item.project_id, keep=-1, reject=[item.id], actor=reviewer
        )
    return service.decide(
        session=session,
        item_id=item.id,
        reviewer=reviewer,
        decision=action,
        version=item.version,
        reason=None if action == "approve" else "other",
    )


EXPECTED = {  # (status, action) → resulting status, or None for 409
    (s, a): machine.TRANSITIONS.get((s, a)) for s in machine.ItemStatus for a in machine.ACTIONS
}


@pytest.mark.parametrize(("status", "action"), sorted(EXPECTED))
def test_status_machine_table(db_session, admin_user, status, action):
    author = make_user(db_session)
    reviewer = make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user)
    item = force_status(db_session, make_item(db_session, project, author), status)
    events_before = _audit_count(db_session, item.id)
    want = EXPECTED[(status, action)]
    if want is None:
        with pytest.raises(Conflict) as raised:
            _act(db_session, item, action, reviewer, author)
        assert raised.value.text.endswith(".")  # a sentence that says why
        db_session.refresh(item)
        assert item.status == status
        assert _audit_count(db_session, item.id) == events_before
    else:
        _act(db_session, item, action, reviewer, author)
        db_session.refresh(item)
        assert item.status == want
        assert _audit_count(db_session, item.id) == events_before + 1
        event = db_session.scalar(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "item", AuditEvent.entity_id == str(item.id))
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        assert event.actor_id == (author if action in ("submit", "edit") else reviewer).id
        assert event.before["status"] == status
        assert event.after["status"] == want


class TestDecisions:
    def test_same_decision_twice_records_one(self, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        item = make_item(db_session, make_project(db_session, admin_user), author)
        version = item.version
        first = service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=reviewer,
            decision="approve",
            version=version,
        )
        events = _audit_count(db_session, item.id)
        again = service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=reviewer,
            decision="approve",
            version=version,
        )
        assert again.id == first.id
        assert db_session.scalar(select(func.count()).select_from(Review)) == 1
        assert _audit_count(db_session, item.id) == events

    def test_two_approval_policy_needs_two_different_reviewers(self, db_session, admin_user):
        author = make_user(db_session)
        a, b = make_user(db_session, role="reviewer"), make_user(db_session, role="reviewer")
        item = make_item(db_session, make_project(db_session, admin_user, approvals=2), author)
        version = item.version
        service.decide(
            session=db_session, item_id=item.id, reviewer=a, decision="approve", version=version
        )
        db_session.refresh(item)
        assert item.status == "submitted" and item.version == version
        service.decide(
            session=db_session, item_id=item.id, reviewer=a, decision="approve", version=version
        )  # the same reviewer again does not count twice
        db_session.refresh(item)
        assert item.status == "submitted"
        service.decide(
            session=db_session, item_id=item.id, reviewer=b, decision="approve", version=version
        )
        db_session.refresh(item)
        assert item.status == "approved"

    def test_rejection_by_either_wins(self, db_session, admin_user):
        author = make_user(db_session)
        a, b = make_user(db_session, role="reviewer"), make_user(db_session, role="reviewer")
        item = make_item(db_session, make_project(db_session, admin_user, approvals=2), author)
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=a,
            decision="approve",
            version=item.version,
        )
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=b,
            decision="reject",
            version=item.version,
            reason="factual_error",
        )
        db_session.refresh(item)
        assert item.status == "rejected"

    def test_an_edit_after_an_approval_starts_a_new_round(self, db_session, admin_user):
        author = make_user(db_session)
        a, b = make_user(db_session, role="reviewer"), make_user(db_session, role="reviewer")
        item = make_item(db_session, make_project(db_session, admin_user, approvals=2), author)
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=a,
            decision="approve",
            version=item.version,
        )
        edited = items.update_item(
            session=db_session,
            item_id=item.id,
            draft=DRAFT,
            expected_version=item.version,
            editor=author,
        )
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=b,
            decision="approve",
            version=edited.version,
        )
        db_session.refresh(item)
        assert item.status == "submitted"  # a's approval was for the old version

    def test_reviewer_edit_then_approve_counts_for_the_new_version(self, db_session, admin_user):
        author = make_user(db_session)
        a = make_user(db_session, role="reviewer")
        item = make_item(db_session, make_project(db_session, admin_user), author)
        new_version = items.update_item(
            session=db_session,
            item_id=item.id,
            draft=DRAFT,
            expected_version=item.version,
            editor=a,
        ).version
        review = service.decide(
            session=db_session, item_id=item.id, reviewer=a, decision="approve", version=new_version
        )
        assert review.item_version == new_version
        db_session.refresh(item)
        assert item.status == "approved"

    def test_stale_version_is_a_conflict(self, db_session, admin_user):
        author = make_user(db_session)
        a, b = make_user(db_session, role="reviewer"), make_user(db_session, role="reviewer")
        item = make_item(db_session, make_project(db_session, admin_user), author)
        version = item.version
        service.decide(
            session=db_session, item_id=item.id, reviewer=a, decision="approve", version=version
        )
        with pytest.raises(Conflict):
            service.decide(
                session=db_session, item_id=item.id, reviewer=b, decision="approve", version=version
            )
        assert db_session.scalar(select(func.count()).select_from(Review)) == 1

    def test_author_cannot_review_their_own_item(self, db_session, admin_user):
        reviewer = make_user(db_session, role="reviewer")
        item = make_item(db_session, make_project(db_session, admin_user), reviewer)
        with pytest.raises(Forbidden):
            service.decide(
                session=db_session,
                item_id=item.id,
                reviewer=reviewer,
                decision="approve",
                version=item.version,
            )

    def test_decision_audit_event_has_before_and_after(self, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        item = make_item(db_session, make_project(db_session, admin_user), author)
        version = item.version
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=reviewer,
            decision="request_changes",
            version=version,
            reason="unclear_instruction",
            comment="Say which paragraph.",
        )
        event = db_session.scalar(
            select(AuditEvent).where(AuditEvent.action == "review.request_changes")
        )
        assert event.actor_id == reviewer.id
        assert event.before == {"status": "submitted", "version": version}
        assert event.after["status"] == "changes_requested"
        assert event.after["reason"] == "unclear_instruction"
        assert event.after["comment"] == "Say which paragraph."


class TestQueue:
    def test_reopened_item_comes_first_with_its_reason(self, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user)
        older = make_item(db_session, project, author, text="An older submission to review.")
        flagged = make_item(db_session, project, author, text="An approved item, flagged later.")
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
            comment="high loss",
            link="/jobs/7",
        )
        other = make_user(db_session, role="reviewer")
        claimed = service.claim_next(
            session=db_session, reviewer=other, f=QueueFilter(project_id=project.id)
        )
        assert claimed.id == flagged.id
        assert claimed.reopen_reason == "flagged_by_training: high loss"
        assert claimed.reopen_link == "/jobs/7"
        assert older.id != claimed.id

    def test_resubmission_goes_first_to_the_reviewer_who_asked(self, db_session, admin_user):
        author = make_user(db_session)
        asker, other = (
            make_user(db_session, role="reviewer"),
            make_user(db_session, role="reviewer"),
        )
        project = make_project(db_session, admin_user)
        first = make_item(db_session, project, author, text="First in line for review today.")
        sent_back = make_item(db_session, project, author, text="Needs another pass by asker.")
        service.decide(
            session=db_session,
            item_id=sent_back.id,
            reviewer=asker,
            decision="request_changes",
            version=sent_back.version,
            reason="other",
        )
        items.update_item(
            session=db_session,
            item_id=sent_back.id,
            draft=DRAFT,
            expected_version=sent_back.version,
            editor=author,
            submit=True,
        )
        assert (
            service.claim_next(
                session=db_session, reviewer=asker, f=QueueFilter(project_id=project.id)
            ).id
            == sent_back.id
        )
        assert (
            service.claim_next(
                session=db_session, reviewer=other, f=QueueFilter(project_id=project.id)
            ).id
            == first.id
        )

    def test_leased_item_is_not_served_twice_until_the_lease_expires(self, db_session, admin_user):
        from datetime import timedelta

        from sqlalchemy import update

        from app.models import Item
        from app.models.base import utcnow

        author = make_user(db_session)
        a, b = make_user(db_session, role="reviewer"), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user)
        only = make_item(db_session, project, author)
        f = QueueFilter(project_id=project.id)
        assert service.claim_next(session=db_session, reviewer=a, f=f).id == only.id
        assert service.claim_next(session=db_session, reviewer=b, f=f) is None
        db_session.execute(
            update(Item)
            .where(Item.id == only.id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
        assert service.claim_next(session=db_session, reviewer=b, f=f).id == only.id

    def test_oldest_first_whichever_way_it_was_submitted(self, db_session, admin_user):
        # Submitted as it was written (no submitted_at) or later from a draft: the older
        # submission comes first on both databases, and its decision times the wait.
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user)
        at_once = make_item(db_session, project, author, text="Written and submitted at once.")
        later = make_item(
            db_session, project, author, text="Written as a draft, submitted later.", submit=False
        )
        items.bulk_submit(
            session=db_session, project_id=project.id, item_ids=[later.id], actor=author
        )
        f = QueueFilter(project_id=project.id)
        claimed = service.claim_next(session=db_session, reviewer=reviewer, f=f)
        assert claimed.id == at_once.id
        review = service.decide(
            session=db_session,
            item_id=at_once.id,
            reviewer=reviewer,
            decision="approve",
            version=claimed.version,
        )
        assert review.submitted_at is not None

    def test_skip_serves_the_next_item_and_wraps_round(self, client, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user)
        ids = [
            make_item(db_session, project, author, text=f"Queue item number {n} to skip.").id
            for n in range(3)
        ]
        csrf = login(client, reviewer.email)
        at = client.post(f"/projects/{project.id}/review/next", data={"csrf_token": csrf})
        seen = [at.headers["location"]]
        for _ in range(3):
            current = int(seen[-1].split("/")[2])
            at = client.post(f"/items/{current}/skip", data={"csrf_token": csrf})
            seen.append(at.headers["location"])
        assert seen == [f"/items/{i}/review" for i in (*ids, ids[0])]
        other = make_user(db_session, role="reviewer")
        f = QueueFilter(project_id=project.id)
        # Skipping gives each item back: only the one now open is held.
        assert service.claim_next(session=db_session, reviewer=other, f=f).id == ids[1]

    def test_filters_by_kind_domain_author_tag_and_reason(self, db_session, admin_user):
        from sqlalchemy import update

        from app.models import Item

        a, b = make_user(db_session), make_user(db_session)
        reviewer = make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user)
        plain = make_item(db_session, project, a, text="A plain item with nothing special.")
        tagged = make_item(db_session, project, a, text="An item tagged in Chinese for maths.")
        by_b = make_item(db_session, project, b, text="An item written by the second author.")
        flagged = make_item(db_session, project, a, text="An item that training flagged later.")
        db_session.execute(
            update(Item).where(Item.id == tagged.id).values(tags=["数学", "a_b"], domain="math")
        )
        service.decide(
            session=db_session,
            item_id=flagged.id,
            reviewer=make_user(db_session, role="reviewer"),
            decision="approve",
            version=flagged.version,
        )
        service.reopen(session=db_session, item_id=flagged.id, actor=admin_user, reason="unsafe")

        def first(**kw):
            claimed = service.claim_next(
                session=db_session, reviewer=reviewer, f=QueueFilter(project_id=project.id, **kw)
            )
            if claimed is not None:
                service.release(session=db_session, item_id=claimed.id, reviewer=reviewer)
            return claimed.id if claimed else None

        assert first() == plain.id
        assert first(tag="数学") == tagged.id
        assert first(tag="a_b") == tagged.id
        assert first(tag="aXb") is None  # "_" is a character, not a wildcard
        assert first(domain="math") == tagged.id
        assert first(author_id=b.id) == by_b.id
        assert first(reason="unsafe") == flagged.id
        assert first(kind="example") is None


class TestPages:
    def test_author_cannot_approve_own_item_over_html_and_api(self, client, db_session, admin_user):
        reviewer = make_user(db_session, role="reviewer")
        item = make_item(db_session, make_project(db_session, admin_user), reviewer)
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
        project = make_project(db_session, admin_user)
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
        item = make_item(db_session, make_project(db_session, admin_user), author, submit=False)
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
        project = make_project(db_session, admin_user)
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
        item = make_item(db_session, make_project(db_session, admin_user), author)
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=make_user(db_session, role="reviewer"),
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
        item = make_item(db_session, make_project(db_session, admin_user), author)
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
        project = make_project(db_session, admin_user)
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
            make_project(db_session, admin_user),
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
