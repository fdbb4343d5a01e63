"""Concurrent reviewers on real, committed data: separate connections and transactions,
on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import migrate
from app.db import begin_for_write, make_engine
from app.errors import Conflict
from app.models import Item, Review
from app.reviews import service
from app.reviews.service import QueueFilter
from tests.dbs import fresh_database
from tests.factories import make_user
from tests.review_factories import make_item, make_project


@pytest.fixture
def committed(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _setup(engine, *, items: int, approvals: int = 1):
    with Session(engine, expire_on_commit=False) as session:
        admin = make_user(session, role="admin")
        author = make_user(session)
        reviewers = [make_user(session, role="reviewer") for _ in range(2)]
        project = make_project(session, admin, approvals=approvals, name="Concurrency")
        rows = [
            make_item(session, project, author, text=f"Item number {i} to review today.")
            for i in range(items)
        ]
        session.commit()
        return project, reviewers, rows


def _in_parallel(engine, work):
    """Run work(session, index) in two threads that start together; commit each."""
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(index):
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait(30)
            begin_for_write(session)  # as the app does for every write request
            try:
                results[index] = work(session, index)
                session.commit()
            except Conflict as error:
                session.rollback()
                results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_reviewers_asking_at_once_get_different_items(committed):
    project, reviewers, rows = _setup(committed, items=3)
    results = _in_parallel(
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
    results = _in_parallel(
        committed,
        lambda s, i: service.claim_next(
            session=s, reviewer=reviewers[i], f=QueueFilter(project_id=project.id)
        ),
    )
    assert sum(r is not None for r in results) == 1


def test_two_approvals_at_once_under_a_one_approval_policy(committed):
    _project, reviewers, rows = _setup(committed, items=1)
    item = rows[0]
    results = _in_parallel(
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
    results = _in_parallel(
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
