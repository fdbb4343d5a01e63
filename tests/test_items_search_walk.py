"""Search pages walk the term index in item order, and searched counts come from one capped
walk: the results and counts stay those of the filter, on both databases; on SQLite, the
first page and a searched page are read without sorting the project's items."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from app import migrate
from app.db import make_engine, make_session_factory
from app.items import repository
from app.items import service as items
from app.items.indexing import query_terms
from app.items.repository import ItemFilter
from app.items.schemas import ItemDraft
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import join, make_user


@pytest.fixture
def project(db_session, admin_user, annotator_user):
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Walk"), actor=admin_user
    )
    join(db_session, project, annotator_user)
    return project


def _item(session, project, author, instruction, *, submit=False):
    draft = ItemDraft(kind="task", instruction=instruction, output="Answer.")
    return items.create_item(
        session=session, project=project, draft=draft, author=author, submit=submit
    ).id


def _walk(session, f: ItemFilter, limit: int = 2) -> list[int]:
    seen, cursor = [], None
    while True:
        rows, cursor = repository.page(session, f, cursor=cursor, limit=limit)
        seen += [row.id for row in rows]
        if cursor is None:
            return seen


@pytest.fixture
def zoo(db_session, project, annotator_user):
    """Seven items with 'zebra', three of them with 'lion' too, among items with neither."""
    ids: dict[str, list[int]] = {"zebra": [], "lion": [], "other": []}
    for n in range(7):
        _item(db_session, project, annotator_user, f"Filler text number {n}.")
        words = "zebra lion" if n % 2 else "zebra"
        ids["zebra"].append(_item(db_session, project, annotator_user, f"A {words} {n}."))
        if n % 2:
            ids["lion"].append(ids["zebra"][-1])
    return ids


class TestPages:
    @pytest.mark.parametrize("sort", ["newest", "oldest"])
    def test_every_match_once_in_order(self, db_session, project, zoo, sort):
        seen = _walk(db_session, ItemFilter(project_id=project.id, q="zebra", sort=sort))
        assert seen == sorted(zoo["zebra"], reverse=sort == "newest")

    @pytest.mark.parametrize("q", ["zebra lion", "lion zebra", "LION   zebra"])
    def test_all_words_whatever_their_order(self, db_session, project, zoo, q):
        seen = _walk(db_session, ItemFilter(project_id=project.id, q=q))
        assert seen == sorted(zoo["lion"], reverse=True)

    def test_the_rarest_word_leads(self, db_session, project, zoo):
        f = ItemFilter(project_id=project.id, q="zebra lion")
        assert repository._search_terms(db_session, f) == ["lion", "zebra"]

    def test_other_filters_still_apply(self, db_session, project, annotator_user, zoo):
        sent = _item(db_session, project, annotator_user, "A zebra sent in.", submit=True)
        f = ItemFilter(project_id=project.id, q="zebra", status="submitted")
        assert _walk(db_session, f) == [sent]

    def test_others_private_drafts_stay_out(self, db_session, project, admin_user, zoo):
        other = make_user(db_session)
        join(db_session, project, other)
        mine = _item(db_session, project, other, "My own zebra.")
        f = ItemFilter(project_id=project.id, q="zebra", drafts_of=other.id)
        assert _walk(db_session, f) == [mine]
        shown = ItemFilter(project_id=project.id, q="zebra", drafts_of=None)
        assert _walk(db_session, shown) == sorted([*zoo["zebra"], mine], reverse=True)


class TestSearchedCounts:
    def test_exact_under_the_cap(self, db_session, project, annotator_user, zoo):
        _item(db_session, project, annotator_user, "A zebra sent in.", submit=True)
        counts = repository.counts_by_status(
            db_session, ItemFilter(project_id=project.id, q="zebra", status="draft")
        )
        assert counts.counts == {"draft": 7, "submitted": 1} and not counts.capped

    def test_past_the_cap_every_count_is_a_lower_bound(self, db_session, project, zoo):
        counts = repository.counts_by_status(
            db_session, ItemFilter(project_id=project.id, q="zebra"), cap=5
        )
        assert counts.total == 5
        assert counts.capped == {"draft", "submitted", "approved", "rejected", "changes_requested"}

    def test_a_whole_filter_counted_with_its_status(self, db_session, project, annotator_user, zoo):
        sent = _item(db_session, project, annotator_user, "A zebra sent in.", submit=True)
        f = ItemFilter(project_id=project.id, q="zebra", status="submitted")
        assert repository.count_matching(db_session, f, cap=3) == 1 and sent
        everything = ItemFilter(project_id=project.id, q="zebra")
        assert repository.count_matching(db_session, everything, cap=3) == 3
        assert repository.count_matching(db_session, everything, cap=100) == 8

    def test_counts_only_drafts_the_reader_may_see(self, db_session, project, zoo):
        other = make_user(db_session)
        join(db_session, project, other)
        _item(db_session, project, other, "My own zebra.")
        f = ItemFilter(project_id=project.id, q="zebra", drafts_of=other.id)
        assert repository.counts_by_status(db_session, f).counts == {"draft": 1}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("机器", (["机器"], [])),  # a bigram is its own proof
        ("机器学习", (["机器", "器学", "学习"], ["机器学习"])),
        ("机", ([], ["机"])),
        ("Zebra 数据", (["数据", "zebra"], [])),
    ],
)
def test_query_terms(query, expected):
    assert query_terms(query) == expected


@contextmanager
def _statements(session):
    seen: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", remember)


@pytest.fixture(scope="module")
def sqlite_zoo(tmp_path_factory):
    """A migrated SQLite database of its own (the plan is SQLite's; PostgreSQL plans from its
    statistics), holding the zoo's items."""
    url = f"sqlite:///{tmp_path_factory.mktemp('plan')}/studio.db"
    migrate.upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        admin = make_user(session, role="admin")
        project = projects.create_project(
            session=session, data=ProjectInput(name="Plan"), actor=admin
        )
        for n in range(20):
            _item(session, project, admin, f"A zebra {n}." if n % 3 else f"A zebra lion {n}.")
        session.commit()
        yield session, project.id
    engine.dispose()


@pytest.mark.parametrize("q", ["", "zebra", "zebra lion"])
def test_sqlite_reads_a_page_without_sorting_the_project(sqlite_zoo, q):
    session, project_id = sqlite_zoo
    with _statements(session) as seen:
        rows, _ = repository.page(session, ItemFilter(project_id=project_id, q=q))
    assert rows
    statement, parameters = next((s, p) for s, p in seen if "FROM items" in s)
    plan = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
    details = [row[-1] for row in plan]
    assert not any("TEMP B-TREE" in d for d in details), details
