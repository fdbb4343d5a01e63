"""The item list: search (English words, Chinese bigrams), filters, keyset pagination,
counts by status and bulk actions, on both databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.items import repository
from app.items import service as items
from app.items.repository import ItemFilter
from app.items.schemas import ItemDraft
from app.models import AuditEvent, Item, NearDupKey, SearchTerm
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import join, make_token, make_user
from tests.helpers import login


@pytest.fixture
def project(db_session, admin_user, annotator_user):
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Search"), actor=admin_user
    )
    join(db_session, project, annotator_user)
    return project


def _item(session, project, author, instruction, *, output="Answer.", submit=False, **meta):
    if meta.get("kind") == "constraint":
        meta.setdefault("constraints", [{"id": "punctuation:no_comma", "params": {}}])
    draft = ItemDraft(**{"kind": "task", **meta}, instruction=instruction, output=output)
    return items.create_item(
        session=session, project=project, draft=draft, author=author, submit=submit
    )


def _ids(client, project, **params):
    response = client.get(f"/projects/{project.id}/items", params=params)
    assert response.status_code == 200, response.text
    return [int(i) for i in re.findall(r'<tr data-item="(\d+)">', response.text)]


@pytest.fixture
def corpus(db_session, project, annotator_user):
    """English and Chinese items; ``spread`` has the three bigrams of 机器学习 but not the word."""
    return {
        "photo": _item(db_session, project, annotator_user, "Explain PHOTOSYNTHESIS to a child."),
        "poem": _item(
            db_session, project, annotator_user, "Write a poem.", output="Leaves drink the sun."
        ),
        "ml": _item(db_session, project, annotator_user, "什么是机器学习？", output="一种方法。"),
        "deep": _item(db_session, project, annotator_user, "深度学习入门", output="神经网络。"),
        "spread": _item(db_session, project, annotator_user, "机器 器学 学习", output="好。"),
    }


class TestSearch:
    @pytest.mark.parametrize("q", ["photosynthesis", "Photosynthesis", "PHOTOSYNTHESIS"])
    def test_english_words_ignore_case(self, client, annotator_user, project, corpus, q):
        login(client, annotator_user.email)
        assert _ids(client, project, q=q) == [corpus["photo"].id]

    def test_every_word_must_match_and_outputs_count(self, client, annotator_user, project, corpus):
        login(client, annotator_user.email)
        assert _ids(client, project, q="photosynthesis CHILD") == [corpus["photo"].id]
        assert _ids(client, project, q="photosynthesis adult") == []
        assert _ids(client, project, q="sun") == [corpus["poem"].id]

    @pytest.mark.parametrize(
        ("q", "expected"),
        [
            ("机器", ["spread", "ml"]),
            ("学习", ["spread", "deep", "ml"]),
            ("机器学习", ["ml"]),
            ("机学", []),
            ("神经网络", ["deep"]),
        ],
    )
    def test_chinese_substrings(self, client, annotator_user, project, corpus, q, expected):
        login(client, annotator_user.email)
        assert _ids(client, project, q=q) == [corpus[name].id for name in expected]

    def test_other_projects_are_not_searched(
        self, client, db_session, admin_user, annotator_user, project, corpus
    ):
        other = projects.create_project(
            session=db_session, data=ProjectInput(name="Other"), actor=admin_user
        )
        join(db_session, other, annotator_user)
        _item(db_session, other, annotator_user, "机器学习的历史")
        login(client, annotator_user.email)
        assert _ids(client, project, q="机器学习") == [corpus["ml"].id]

    def test_search_follows_an_edit(self, client, db_session, annotator_user, project, corpus):
        photo = corpus["photo"]
        items.update_item(
            session=db_session,
            item_id=photo.id,
            draft=ItemDraft(kind="task", instruction="Explain gravity.", output="Answer."),
            expected_version=photo.version,
            editor=annotator_user,
        )
        login(client, annotator_user.email)
        assert _ids(client, project, q="photosynthesis") == []
        assert _ids(client, project, q="gravity") == [photo.id]


class TestFilters:
    def test_each_filter(self, client, db_session, annotator_user, project):
        def make(*args, **meta):
            return _item(db_session, project, annotator_user, *args, **meta)

        a = make("Add two numbers.", domain="math", difficulty=2, tags=["arith", "a_b"])
        b = make("No commas here.", kind="constraint", domain="style", difficulty=4, submit=True)
        b.tags = ["axb", "html"]
        db_session.flush()
        c = make("写一首关于秋天的诗。", tags=["诗歌"], domain="math", difficulty=2)
        login(client, annotator_user.email)
        assert _ids(client, project) == [c.id, b.id, a.id]
        assert _ids(client, project, kind="constraint") == [b.id]
        assert _ids(client, project, kind="task") == [c.id, a.id]
        assert _ids(client, project, status="submitted") == [b.id]
        assert _ids(client, project, status="draft") == [c.id, a.id]
        assert _ids(client, project, domain="math") == [c.id, a.id]
        assert _ids(client, project, difficulty=4) == [b.id]
        assert _ids(client, project, language="zh") == [c.id]
        assert _ids(client, project, language="en") == [b.id, a.id]
        assert _ids(client, project, tag="诗歌") == [c.id]
        assert _ids(client, project, tag="a_b") == [a.id]  # "_" is no wildcard
        assert _ids(client, project, tag="ml") == []  # whole tags only, not "html"
        assert _ids(client, project, domain="math", difficulty=2, language="en") == [a.id]
        assert _ids(client, project, sort="oldest") == [a.id, b.id, c.id]

    def test_created_dates_are_inclusive_days(self, client, db_session, annotator_user, project):
        early = _item(db_session, project, annotator_user, "January item.")
        late = _item(db_session, project, annotator_user, "February item.")
        early.created_at = datetime(2024, 1, 10, 23, 30, tzinfo=UTC)
        late.created_at = datetime(2024, 2, 10, 0, 15, tzinfo=UTC)
        db_session.flush()
        login(client, annotator_user.email)
        assert _ids(client, project, created_from="2024-02-01") == [late.id]
        assert _ids(client, project, created_to="2024-01-10") == [early.id]
        assert _ids(client, project, created_from="2024-02-10", created_to="2024-02-10") == [
            late.id
        ]
        assert _ids(client, project, created_from="2024-01-11", created_to="2024-02-09") == []

    def test_rows_fragment_for_load_more(self, client, db_session, annotator_user, project):
        item = _item(db_session, project, annotator_user, "Fragment item.")
        login(client, annotator_user.email)
        response = client.get(
            f"/projects/{project.id}/items",
            headers={"HX-Request": "true", "HX-Target": "item-rows"},
        )
        assert response.status_code == 200
        assert f'<tr data-item="{item.id}">' in response.text
        assert "<table" not in response.text and "<html" not in response.text


def _walk(session, f, limit=2):
    seen, cursor, pages = [], None, 0
    while True:
        rows, cursor = repository.page(session, f, cursor=cursor, limit=limit)
        seen.extend(row.id for row in rows)
        pages += 1
        if cursor is None:
            return seen, pages
        assert pages < 10, "pagination does not end"


class TestKeysetPagination:
    @pytest.fixture
    def five(self, db_session, project, annotator_user):
        return [
            _item(db_session, project, annotator_user, f"Item number {n}.").id for n in range(5)
        ]

    def test_newest_first(self, db_session, project, five):
        seen, pages = _walk(db_session, ItemFilter(project_id=project.id))
        assert seen == sorted(five, reverse=True)
        assert pages == 3

    def test_oldest_first(self, db_session, project, five):
        seen, _ = _walk(db_session, ItemFilter(project_id=project.id, sort="oldest"))
        assert seen == sorted(five)

    def test_recently_updated_with_equal_timestamps(self, db_session, project, five):
        stamp = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
        for offset, item_id in zip([0, 0, 1, 1, 2], five, strict=True):
            db_session.get(Item, item_id).updated_at = stamp + timedelta(seconds=offset)
        db_session.flush()
        seen, _ = _walk(db_session, ItemFilter(project_id=project.id, sort="updated"))
        assert seen == [five[4], five[3], five[2], five[1], five[0]]

    def test_pages_respect_filters(self, db_session, project, annotator_user, five):
        matching = [_item(db_session, project, annotator_user, f"Apple {n}.").id for n in range(3)]
        seen, pages = _walk(db_session, ItemFilter(project_id=project.id, q="apple"))
        assert seen == sorted(matching, reverse=True)
        assert pages == 2

    def test_last_page_exactly_full_has_no_cursor(self, db_session, project, five):
        rows, cursor = repository.page(db_session, ItemFilter(project_id=project.id), limit=5)
        assert len(rows) == 5 and cursor is None


class TestCounts:
    def test_counts_by_status(self, client, db_session, annotator_user, project):
        _item(db_session, project, annotator_user, "Draft one.")
        _item(db_session, project, annotator_user, "Draft two.", kind="constraint")
        _item(db_session, project, annotator_user, "Sent one.", submit=True)
        approved = _item(db_session, project, annotator_user, "Good one.", submit=True)
        approved.status = "approved"
        db_session.flush()
        f = ItemFilter(project_id=project.id)
        assert repository.counts_by_status(db_session, f).counts == {
            "draft": 2,
            "submitted": 1,
            "approved": 1,
        }
        # The status filter does not narrow the counts (they label the status tabs) ...
        with_status = ItemFilter(project_id=project.id, status="draft")
        assert repository.counts_by_status(db_session, with_status).counts["submitted"] == 1
        # ... but the other filters do.
        constraints = ItemFilter(project_id=project.id, kind="constraint")
        assert repository.counts_by_status(db_session, constraints).counts == {"draft": 1}
        # Each count stops at the cap, and says it did.
        capped = repository.counts_by_status(db_session, f, cap=1)
        assert capped.counts == {"draft": 1, "submitted": 1, "approved": 1}
        assert capped.capped == {"draft"}
        login(client, annotator_user.email)
        page = client.get(f"/projects/{project.id}/items").text
        assert re.search(r'>All <span class="num">4</span>', page)

    def test_counts_come_with_the_first_page_only(
        self, client, db_session, annotator_user, project
    ):
        for n in range(3):
            _item(db_session, project, annotator_user, f"Counted item {n}.")
        token = make_token(db_session, scope="user", owner=annotator_user)
        headers = {"Authorization": f"Bearer {token}"}
        first = client.get(f"/api/v1/projects/{project.id}/items?limit=2", headers=headers).json()
        assert first["counts"] == {"draft": 3} and first["counts_capped_at"] == 10_000
        second = client.get(
            f"/api/v1/projects/{project.id}/items",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=headers,
        ).json()
        assert second["counts"] is None and len(second["items"]) == 1


class TestBulkActions:
    def _bulk(self, client, csrf, project, action, ids, headers=None, **extra):
        data = {"action": action, "item_ids": [str(i) for i in ids], "csrf_token": csrf, **extra}
        return client.post(f"/projects/{project.id}/items/bulk", data=data, headers=headers or {})

    def test_submit_only_drafts(self, client, db_session, annotator_user, project):
        draft = _item(db_session, project, annotator_user, "A draft.")
        approved = _item(db_session, project, annotator_user, "Approved.", submit=True)
        approved.status = "approved"
        db_session.flush()
        csrf = login(client, annotator_user.email)
        response = self._bulk(client, csrf, project, "submit", [draft.id, approved.id])
        assert response.status_code == 303
        assert response.headers["location"] == f"/projects/{project.id}/items"
        db_session.refresh(draft)
        db_session.refresh(approved)
        assert (draft.status, approved.status) == ("submitted", "approved")
        assert "1 of 2 items changed." in client.get(response.headers["location"]).text

    def test_tag_then_filter(self, client, db_session, annotator_user, project):
        one = _item(db_session, project, annotator_user, "One.", tags=["old"])
        two = _item(db_session, project, annotator_user, "Two.")
        csrf = login(client, annotator_user.email)
        response = self._bulk(client, csrf, project, "tag", [one.id, two.id], tag=" 重要 ")
        assert response.status_code == 303
        db_session.refresh(one)
        assert one.tags == ["old", "重要"]
        assert _ids(client, project, tag="重要") == [two.id, one.id]
        events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "item.tagged"))
        assert len(events.all()) == 2

    def test_tag_needs_a_tag(self, client, db_session, annotator_user, project):
        one = _item(db_session, project, annotator_user, "One.")
        csrf = login(client, annotator_user.email)
        assert self._bulk(client, csrf, project, "tag", [one.id], tag="  ").status_code == 422

    def test_delete_removes_only_drafts(self, client, db_session, annotator_user, project):
        draft = _item(db_session, project, annotator_user, "Delete me.")
        sent = _item(db_session, project, annotator_user, "Keep me.", submit=True)
        csrf = login(client, annotator_user.email)
        headers = {"HX-Request": "true", "HX-Current-URL": "https://evil.example/p?q=keep"}
        response = self._bulk(client, csrf, project, "delete", [draft.id, sent.id], headers)
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/p?q=keep"  # never off-site
        db_session.expire_all()
        assert db_session.get(Item, draft.id) is None
        assert db_session.get(Item, sent.id).status == "submitted"
        assert _ids(client, project, q="delete") == []
        # The index tables have no foreign keys to cascade: the item's rows went with it.
        for table in (SearchTerm, NearDupKey):
            left = select(table).where(table.item_id.in_([draft.id, sent.id]))
            assert {row.item_id for row in db_session.scalars(left)} == {sent.id}
        assert db_session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "item.deleted", AuditEvent.entity_id == str(draft.id)
            )
        )

    def test_nothing_selected(self, client, annotator_user, project):
        csrf = login(client, annotator_user.email)
        assert self._bulk(client, csrf, project, "submit", []).status_code == 422

    @pytest.mark.parametrize(("shared", "status"), [(True, 303), (False, 422)])
    def test_other_annotators_items_are_left_alone(
        self, client, db_session, annotator_user, project, shared, status
    ):
        # A shared draft is skipped by each action; a private one is not there to select.
        project.drafts_shared = shared
        theirs = _item(db_session, project, annotator_user, "Not yours.")
        other = make_user(db_session, role="annotator")
        join(db_session, project, other)
        csrf = login(client, other.email)
        for action in ("submit", "tag", "delete"):
            response = self._bulk(client, csrf, project, action, [theirs.id], tag="x")
            assert response.status_code == status
        db_session.expire_all()
        item = db_session.get(Item, theirs.id)
        assert (item.status, item.tags) == ("draft", [])

    def test_submit_needs_the_output_as_a_single_submit_does(
        self, client, db_session, annotator_user, project
    ):
        empty = _item(db_session, project, annotator_user, "No answer yet.", output="")
        written = _item(db_session, project, annotator_user, "Answered.")
        csrf = login(client, annotator_user.email)
        response = self._bulk(client, csrf, project, "submit", [empty.id, written.id])
        assert response.status_code == 303
        db_session.expire_all()
        assert db_session.get(Item, empty.id).status == "draft"
        assert db_session.get(Item, written.id).status == "submitted"

    def test_items_of_another_project_are_out_of_reach(
        self, client, db_session, admin_user, annotator_user, project
    ):
        elsewhere = projects.create_project(
            session=db_session, data=ProjectInput(name="Elsewhere"), actor=admin_user
        )
        join(db_session, elsewhere, annotator_user)
        outside = _item(db_session, elsewhere, annotator_user, "Lives in another project.")
        inside = _item(db_session, project, annotator_user, "Lives here.")
        csrf = login(client, annotator_user.email)
        for action in ("tag", "submit", "delete"):
            self._bulk(client, csrf, project, action, [outside.id, inside.id], tag="moved")
        self._bulk(client, csrf, project, "tag", [outside.id], tag="moved")
        db_session.expire_all()
        kept = db_session.get(Item, outside.id)
        assert kept is not None and (kept.status, kept.tags) == ("draft", [])
        assert db_session.get(Item, inside.id).tags == ["moved"]


def test_unknown_date_is_rejected(client, annotator_user, project):
    login(client, annotator_user.email)
    response = client.get(f"/projects/{project.id}/items", params={"created_from": "soon"})
    assert response.status_code == 422
