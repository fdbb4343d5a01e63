"""Assignment rules: who may be assigned, what each change audits, and when work is done."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.assignments import service as assignments
from app.errors import InvalidInput, NotFound
from app.items.schemas import LabelIn
from app.labeling import service as labeling
from app.members import service as members
from app.models import Assignment, AuditEvent
from app.reviews import service as reviews
from tests.factories import make_user
from tests.review_factories import force_status, make_item, make_project

TODAY = date(2026, 12, 10)


@pytest.fixture
def team(db_session, admin_user):
    """A project with an annotator, a reviewer and an outsider, and three items."""
    project = make_project(db_session, admin_user, name="Assigned work")
    author = make_user(db_session, email="author@example.org")
    ann = make_user(db_session, email="ann@example.org")
    rev = make_user(db_session, role="reviewer", email="rev@example.org")
    outsider = make_user(db_session, email="out@example.org")
    for person, role in ((author, "annotator"), (ann, "annotator"), (rev, "reviewer")):
        members.add_member(
            session=db_session, project=project, user=person, role=role, actor=admin_user
        )
    items = [
        make_item(db_session, project, author, text=f"Item number {n} to work on.", submit=False)
        for n in range(3)
    ]
    return {"project": project, "ann": ann, "rev": rev, "out": outsider, "items": items,
            "author": author, "admin": admin_user}  # fmt: skip


def _assign(session, team, users, *, task="write", items=None, due=None):
    return assignments.assign(
        session=session,
        project_id=team["project"].id,
        item_ids=[i.id for i in (team["items"][:1] if items is None else items)],
        task=task,
        user_ids=[u.id for u in users],
        due_date=due,
        actor=team["admin"],
    )


def _events(session, item):
    return session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type == "item", AuditEvent.entity_id == str(item.id))
        .where(AuditEvent.action.like("assignment.%"))
        .order_by(AuditEvent.id)
    ).all()


class TestAssign:
    def test_add_reassign_and_remove_each_audit_once(self, db_session, team):
        item = team["items"][0]
        due = date(2027, 1, 5)
        summary = _assign(db_session, team, [team["ann"]], due=due)
        assert (summary.items, summary.changed) == (1, 1)
        _assign(db_session, team, [team["ann"]], due=due)  # the same again: no change
        _assign(db_session, team, [team["author"], team["ann"]], due=None)
        assignments.unassign(
            session=db_session,
            project_id=team["project"].id,
            item_ids=[item.id],
            task="write",
            actor=team["admin"],
        )
        events = _events(db_session, item)
        assert [e.action for e in events] == [
            "assignment.added",
            "assignment.reassigned",
            "assignment.removed",
        ]
        added, moved, removed = events
        assert added.before is None
        assert added.after == {"task": "write", "assignees": ["ann@example.org"],
                               "due_date": "2027-01-05"}  # fmt: skip
        assert moved.before["assignees"] == ["ann@example.org"]
        assert moved.after == {"task": "write", "due_date": None,
                               "assignees": ["ann@example.org", "author@example.org"]}  # fmt: skip
        assert removed.after is None
        assert removed.before["assignees"] == ["ann@example.org", "author@example.org"]
        assert db_session.scalars(select(Assignment)).all() == []

    def test_assigning_sets_exactly_the_people_named(self, db_session, team):
        _assign(db_session, team, [team["ann"], team["author"]], items=team["items"])
        summary = _assign(db_session, team, [team["author"]], items=team["items"])
        assert summary.changed == 3
        rows = db_session.scalars(select(Assignment)).all()
        assert {(r.item_id, r.user_id) for r in rows} == {
            (i.id, team["author"].id) for i in team["items"]
        }
        assert all(r.assigned_by == team["admin"].id for r in rows)

    def test_unassigning_one_person_keeps_the_others(self, db_session, team):
        item = team["items"][0]
        _assign(db_session, team, [team["ann"], team["author"]])
        assignments.unassign(
            session=db_session,
            project_id=team["project"].id,
            item_ids=[item.id],
            task="write",
            user_ids=[team["ann"].id],
            actor=team["admin"],
        )
        last = _events(db_session, item)[-1]
        assert last.action == "assignment.reassigned"
        assert last.after["assignees"] == ["author@example.org"]

    def test_outsiders_and_annotators_reviewing_are_refused_by_name(self, db_session, team):
        with pytest.raises(InvalidInput, match="out@example.org is not a member"):
            _assign(db_session, team, [team["ann"], team["out"]])
        with pytest.raises(InvalidInput, match="ann@example.org is an annotator"):
            _assign(db_session, team, [team["ann"]], task="review")
        _assign(db_session, team, [team["rev"]], task="review")  # a reviewer may
        _assign(db_session, team, [team["rev"]], task="label")  # and do anything else

    def test_items_of_another_project_are_not_found(self, db_session, team):
        other = make_project(db_session, team["admin"], name="Elsewhere")
        foreign = make_item(db_session, other, team["author"], text="Not in the first project.")
        with pytest.raises(NotFound):
            _assign(db_session, team, [team["ann"]], items=[team["items"][0], foreign])
        assert db_session.scalars(select(Assignment)).all() == []

    def test_bad_task_and_empty_choices_are_invalid(self, db_session, team):
        with pytest.raises(InvalidInput) as bad:
            _assign(db_session, team, [team["ann"]], task="paint")
        assert "task" in bad.value.errors
        with pytest.raises(InvalidInput) as nobody:
            _assign(db_session, team, [])
        assert "user_ids" in nobody.value.errors
        with pytest.raises(InvalidInput):
            _assign(db_session, team, [team["ann"]], items=[])

    def test_emails_resolve_and_unknown_ones_are_named(self, db_session, team):
        found = assignments.user_ids_for(session=db_session, emails=["ANN@example.org"])
        assert found == [team["ann"].id]
        with pytest.raises(InvalidInput, match="nobody@example.org"):
            assignments.user_ids_for(session=db_session, emails=["nobody@example.org"])


class TestDone:
    def test_open_work_soonest_first_with_overdue_marked(self, db_session, team):
        first, second, third = team["items"]
        _assign(db_session, team, [team["ann"]], items=[first], due=None)
        _assign(db_session, team, [team["ann"]], items=[second], due=TODAY + timedelta(days=3))
        _assign(db_session, team, [team["ann"]], items=[third], due=TODAY - timedelta(days=1))
        found = assignments.open_for(session=db_session, user=team["ann"], today=TODAY)
        assert [a.item_id for a in found] == [third.id, second.id, first.id]
        assert [a.overdue for a in found] == [True, False, False]
        assert found[0].project_name == "Assigned work"
        assert found[0].excerpt == "Item number 2 to work on."

    def test_writing_is_done_once_submitted(self, db_session, team):
        item = team["items"][0]
        _assign(db_session, team, [team["ann"]])
        assert len(assignments.open_for(session=db_session, user=team["ann"])) == 1
        force_status(db_session, item, "submitted")
        assert assignments.open_for(session=db_session, user=team["ann"]) == []
        (row,) = assignments.progress(session=db_session, project_id=team["project"].id)
        assert (row.email, row.open, row.done) == ("ann@example.org", 0, 1)

    def test_labeling_is_done_once_the_assignee_labeled(self, db_session, team):
        item = team["items"][0]
        team["project"].labeling_overlap = 2
        _assign(db_session, team, [team["ann"]], task="label")
        labeling.submit_label(
            session=db_session,
            project=team["project"],
            item=item,
            annotator=team["rev"],
            data=LabelIn(kind="task", difficulty=2, quality=4),
        )
        assert len(assignments.open_for(session=db_session, user=team["ann"])) == 1
        labeling.submit_label(
            session=db_session,
            project=team["project"],
            item=item,
            annotator=team["ann"],
            data=LabelIn(kind="task", difficulty=2, quality=4),
        )
        assert assignments.open_for(session=db_session, user=team["ann"]) == []

    def test_reviewing_is_done_once_decided(self, db_session, team):
        item = force_status(db_session, team["items"][0], "submitted")
        _assign(db_session, team, [team["rev"]], task="review")
        rows = assignments.listing(session=db_session, project_id=team["project"].id)
        assert [(r.task, r.done) for r in rows] == [("review", False)]
        reviews.decide(
            session=db_session,
            item_id=item.id,
            reviewer=team["rev"],
            decision="approve",
            version=item.version,
        )
        rows = assignments.listing(session=db_session, project_id=team["project"].id)
        assert [(r.task, r.done) for r in rows] == [("review", True)]

    def test_a_draft_waiting_for_review_stays_open(self, db_session, team):
        _assign(db_session, team, [team["rev"]], task="review")
        assert len(assignments.open_for(session=db_session, user=team["rev"])) == 1

    def test_reviewers_for_names_the_assigned_reviewers(self, db_session, team):
        first, second, _ = team["items"]
        _assign(db_session, team, [team["rev"]], task="review", items=[first])
        _assign(db_session, team, [team["ann"]], task="label", items=[second])
        assert assignments.reviewers_for(db_session, [first.id, second.id]) == {
            first.id: {team["rev"].id}
        }

    def test_quota_counts_submissions_and_labels(self, db_session, team):
        members.change_member(
            session=db_session,
            project_id=team["project"].id,
            user_id=team["author"].id,
            role="annotator",
            quota=10,
            expected_version=None,
            actor=team["admin"],
        )
        force_status(db_session, team["items"][0], "submitted")
        (quota,) = assignments.quotas_for(session=db_session, user=team["author"])
        assert (quota.project_name, quota.quota, quota.done) == ("Assigned work", 10, 1)
        assert assignments.quotas_for(session=db_session, user=team["ann"]) == []
