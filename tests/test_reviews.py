"""The review workflow: the status machine as a table, approvals per version,
idempotent decisions, audit events and reopen."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core import status as machine
from app.errors import Conflict, Forbidden
from app.items import service as items
from app.models import AuditEvent, Review
from app.reviews import service
from tests.factories import make_user
from tests.review_factories import DRAFT, force_status, make_item, make_project


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
    project = make_project(db_session, admin_user, members=[author, reviewer])
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
        item = make_item(
            db_session, make_project(db_session, admin_user, members=[author, reviewer]), author
        )
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
        item = make_item(
            db_session,
            make_project(db_session, admin_user, approvals=2, members=[author, a, b]),
            author,
        )
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
        item = make_item(
            db_session,
            make_project(db_session, admin_user, approvals=2, members=[author, a, b]),
            author,
        )
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
        item = make_item(
            db_session,
            make_project(db_session, admin_user, approvals=2, members=[author, a, b]),
            author,
        )
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

    def test_a_reviewers_edit_is_approved_by_another_for_the_new_version(
        self, db_session, admin_user
    ):
        author = make_user(db_session)
        a, b = make_user(db_session, role="reviewer"), make_user(db_session, role="reviewer")
        item = make_item(
            db_session, make_project(db_session, admin_user, members=[author, a, b]), author
        )
        new_version = items.update_item(
            session=db_session,
            item_id=item.id,
            draft=DRAFT,
            expected_version=item.version,
            editor=a,
        ).version
        with pytest.raises(Forbidden):  # nobody approves their own edit
            service.decide(
                session=db_session,
                item_id=item.id,
                reviewer=a,
                decision="approve",
                version=new_version,
            )
        review = service.decide(
            session=db_session, item_id=item.id, reviewer=b, decision="approve", version=new_version
        )
        assert review.item_version == new_version
        db_session.refresh(item)
        assert item.status == "approved"

    def test_an_edit_approved_by_others_no_longer_binds_its_editor(self, db_session, admin_user):
        author = make_user(db_session)
        a, b = make_user(db_session, role="reviewer"), make_user(db_session, role="reviewer")
        item = make_item(
            db_session, make_project(db_session, admin_user, members=[author, a, b]), author
        )
        item = items.update_item(
            session=db_session,
            item_id=item.id,
            draft=DRAFT,
            expected_version=item.version,
            editor=a,
        )
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=b,
            decision="approve",
            version=item.version,
        )
        db_session.refresh(item)
        item = items.update_item(
            session=db_session,
            item_id=item.id,
            draft=DRAFT.model_copy(update={"output": "Cats sleep all day."}),
            expected_version=item.version,
            editor=author,
        )
        # a's edit was approved by b; the new round reviews the author's change only.
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=a,
            decision="approve",
            version=item.version,
        )
        db_session.refresh(item)
        assert item.status == "approved"

    def test_tagging_is_not_editing(self, db_session, admin_user):
        author, a = make_user(db_session), make_user(db_session, role="reviewer")
        item = make_item(
            db_session, make_project(db_session, admin_user, members=[author, a]), author
        )
        items.bulk_tag(
            session=db_session, project_id=item.project_id, item_ids=[item.id], tag="x", actor=a
        )
        db_session.refresh(item)
        service.decide(
            session=db_session,
            item_id=item.id,
            reviewer=a,
            decision="approve",
            version=item.version,
        )
        db_session.refresh(item)
        assert item.status == "approved"

    def test_stale_version_is_a_conflict(self, db_session, admin_user):
        author = make_user(db_session)
        a, b = make_user(db_session, role="reviewer"), make_user(db_session, role="reviewer")
        item = make_item(
            db_session, make_project(db_session, admin_user, members=[author, a, b]), author
        )
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
        item = make_item(
            db_session, make_project(db_session, admin_user, members=[reviewer]), reviewer
        )
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
        item = make_item(
            db_session, make_project(db_session, admin_user, members=[author, reviewer]), author
        )
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
