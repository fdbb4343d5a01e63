"""Assignments steer the queues: an item with review assignments goes only to its assigned
reviewers, and an annotator's label assignments come first."""

from __future__ import annotations

from app.assignments import service as assignments
from app.labeling import service as labeling
from app.reviews import service as reviews
from app.reviews.service import QueueFilter
from tests.factories import make_user
from tests.review_factories import make_item, make_project


def _assign(session, project, item, task, *people, actor):
    assignments.assign(
        session=session,
        project_id=project.id,
        item_ids=[item.id],
        task=task,
        user_ids=[p.id for p in people],
        due_date=None,
        actor=actor,
    )


class TestReviewQueue:
    def test_an_assigned_item_goes_only_to_its_reviewers(self, db_session, admin_user):
        author = make_user(db_session)
        chosen = make_user(db_session, role="reviewer")
        other = make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=(author, chosen, other))
        assigned = make_item(db_session, project, author, text="Only the chosen one reviews.")
        free = make_item(db_session, project, author, text="Anyone may review this one.")
        _assign(db_session, project, assigned, "review", chosen, actor=admin_user)
        queue = QueueFilter(project_id=project.id)

        got = reviews.claim_next(session=db_session, reviewer=other, f=queue)
        assert got.id == free.id
        reviews.release(session=db_session, item_id=free.id, reviewer=other)
        got = reviews.claim_next(session=db_session, reviewer=other, f=queue, after=free)
        assert got.id == free.id  # wraps round: the assigned item is never offered
        reviews.release(session=db_session, item_id=free.id, reviewer=other)

        mine = reviews.claim_next(session=db_session, reviewer=chosen, f=queue)
        assert mine.id == assigned.id  # the older submission, and it is theirs

    def test_a_manager_may_still_decide_on_the_item_directly(self, db_session, admin_user):
        author = make_user(db_session)
        chosen = make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=(author, chosen))
        item = make_item(db_session, project, author, text="Decided by the manager anyway.")
        _assign(db_session, project, item, "review", chosen, actor=admin_user)
        assert (
            reviews.claim_next(
                session=db_session, reviewer=admin_user, f=QueueFilter(project_id=project.id)
            )
            is None
        )
        review = reviews.decide(
            session=db_session,
            item_id=item.id,
            reviewer=admin_user,
            decision="approve",
            version=item.version,
        )
        assert review.decision == "approve"


class TestLabelingOrder:
    def test_items_assigned_for_labeling_come_first(self, db_session, admin_user):
        author, annotator, other = (make_user(db_session) for _ in range(3))
        project = make_project(db_session, admin_user, members=(author, annotator, other))
        first = make_item(db_session, project, author, text="The first item to label.")
        second = make_item(db_session, project, author, text="The second item to label.")
        _assign(db_session, project, second, "label", annotator, actor=admin_user)
        found = labeling.next_item(session=db_session, project=project, annotator=annotator)
        assert found.id == second.id
        found = labeling.next_item(session=db_session, project=project, annotator=other)
        assert found.id == first.id  # someone else's assignment changes nothing for others
