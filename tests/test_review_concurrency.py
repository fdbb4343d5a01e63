"""Concurrent reviewers on real, committed data: separate connections and transactions,
on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.models import Item, Review
from app.reviews import service
from app.reviews.service import QueueFilter
from tests.factories import make_user
from tests.helpers import in_parallel
from tests.review_factories import make_item, make_project


def _setup(engine, *, items: int, approvals: int = 1):
    with Session(engine, expire_on_commit=False) as session:
        admin = make_user(session, role="admin")
        author = make_user(session)
        reviewers = [make_user(session, role="reviewer") for _ in range(2)]
        project = make_project(
            session, admin, approvals=approvals, name="Concurrency", members=[author, *reviewers]
        )
        rows = [
            make_item(session, project, author, text=f"Item number {i} to review today.")
            for i in range(items)
        ]
        session.commit()
        return project, reviewers, rows


def test_two_reviewers_asking_at_once_get_different_items(committed):
    project, reviewers, rows = _setup(committed, items=3)
    results = in_parallel(
        committed,
        lambda s, i: (
            service.claim_next(
                session=s, reviewer=reviewers[i], f=QueueFilter(project_id=project.id)
            ).id
        ),
    )
    assert None not in results
    assert results[0] != results[1]
    assert set(results) <= {r.id for r in rows}


def test_one_item_goes_to_exactly_one_of_two_reviewers(committed):
    project, reviewers, _rows = _setup(committed, items=1)
    results = in_parallel(
        committed,
        lambda s, i: service.claim_next(
            session=s, reviewer=reviewers[i], f=QueueFilter(project_id=project.id)
        ),
    )
    assert sum(r is not None for r in results) == 1


def test_two_approvals_at_once_under_a_one_approval_policy(committed):
    _project, reviewers, rows = _setup(committed, items=1)
    item = rows[0]
    results = in_parallel(
        committed,
        lambda s, i: (
            service.decide(
                session=s,
                item_id=item.id,
                reviewer=reviewers[i],
                decision="approve",
                version=item.version,
            ).id
        ),
    )
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 1
    with Session(committed) as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 1


def test_two_approvals_at_once_under_a_two_approval_policy(committed):
    _project, reviewers, rows = _setup(committed, items=1, approvals=2)
    item = rows[0]
    results = in_parallel(
        committed,
        lambda s, i: (
            service.decide(
                session=s,
                item_id=item.id,
                reviewer=reviewers[i],
                decision="approve",
                version=item.version,
            ).id
        ),
    )
    assert not [r for r in results if isinstance(r, Conflict)]
    with Session(committed) as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 2
        assert session.get(Item, item.id).status == "approved"


def test_two_saves_of_one_version_at_once_one_wins_the_other_conflicts(committed):
    """The second save waits for the first and then sees the item moved on: a 409, never a
    failed UPDATE (a 500)."""
    from app.items import service as items
    from app.items.schemas import ItemDraft

    project, reviewers, rows = _setup(committed, items=1)
    item_id = rows[0].id

    def save(session, index):
        return items.update_item(
            session=session,
            item_id=item_id,
            draft=ItemDraft(kind="task", instruction=f"Saved by {index}.", output="Done."),
            expected_version=rows[0].version,
            editor=reviewers[index],
        ).version

    results = in_parallel(committed, save)
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert [r for r in results if not isinstance(r, Conflict)] == [rows[0].version + 1]
