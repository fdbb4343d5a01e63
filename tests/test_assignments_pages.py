"""The assign page, its form and unassign, the item list's entry point and the home page."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.assignments import service as assignments
from app.models import Assignment, AuditEvent
from tests.factories import join, make_user
from tests.helpers import login
from tests.review_factories import make_item, make_project


@pytest.fixture
def setup(db_session, admin_user):
    manager = make_user(db_session, email="mona@example.org")
    ann = make_user(db_session, email="ann@example.org")
    rev = make_user(db_session, role="reviewer", email="rev@example.org")
    project = make_project(db_session, admin_user, name="Pages", members=(ann, rev))
    join(db_session, project, manager, role="manager")
    items = [
        make_item(db_session, project, ann, text=f"Draft number {n} waits.", submit=False)
        for n in range(3)
    ]
    make_item(db_session, project, ann, text="Already submitted for review.")
    return {"project": project, "manager": manager, "ann": ann, "rev": rev, "items": items}


def _client(app, email):
    client = TestClient(app, follow_redirects=False)
    return client, login(client, email)


def _rows(session):
    return {(a.item_id, a.user_id, a.task) for a in session.scalars(select(Assignment))}


class TestAccess:
    def test_manager_sees_the_page_reviewer_is_refused_outsider_not_found(
        self, app, db_session, setup
    ):
        path = f"/projects/{setup['project'].id}/assign"
        manager, _ = _client(app, "mona@example.org")
        page = manager.get(path)
        assert page.status_code == 200
        assert 'id="assign-form"' in page.text and "<html" in page.text
        assert "rev@example.org" in page.text  # members to choose from
        fragment = manager.get(path, headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and "<html" not in fragment.text
        reviewer, _ = _client(app, "rev@example.org")
        assert reviewer.get(path).status_code == 403
        make_user(db_session, email="stranger@example.org")
        stranger, csrf = _client(app, "stranger@example.org")
        assert stranger.get(path).status_code == 404
        sent = stranger.post(path, data={"csrf_token": csrf, "task": "write"})
        assert sent.status_code == 404


class TestAssignForm:
    def test_chosen_items_are_assigned_and_audited(self, app, db_session, setup):
        client, csrf = _client(app, "mona@example.org")
        first, second, _ = setup["items"]
        response = client.post(
            f"/projects/{setup['project'].id}/assign",
            data={
                "csrf_token": csrf,
                "item_id": [str(first.id), str(second.id)],
                "task": "label",
                "user_ids": [str(setup["ann"].id), str(setup["rev"].id)],
                "due_date": "2027-02-01",
            },  # fmt: skip
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/projects/{setup['project'].id}/assign"
        assert _rows(db_session) == {
            (i.id, u.id, "label") for i in (first, second) for u in (setup["ann"], setup["rev"])
        }
        page = client.get(response.headers["location"])
        assert "2 of 2 items assigned." in page.text
        assert 'id="assignments-table"' in page.text and "2027-02-01" in page.text
        assert page.text.count("<meter") == 2  # one per assignee
        actions = db_session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("assignment.%"))
        ).all()
        assert actions == ["assignment.added", "assignment.added"]

    def test_every_matching_item_via_the_filter(self, app, db_session, setup):
        client, csrf = _client(app, "mona@example.org")
        pid = setup["project"].id
        page = client.get(f"/projects/{pid}/assign?status=draft&cursor=x")
        assert "Every item matching the filters: 3 items" in page.text
        assert 'name="status" value="draft"' in page.text
        response = client.post(
            f"/projects/{pid}/assign",
            data={
                "csrf_token": csrf,
                "status": "draft",
                "task": "write",
                "user_ids": str(setup["ann"].id),
            },  # fmt: skip
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == f"/projects/{pid}/assign"
        assert _rows(db_session) == {(i.id, setup["ann"].id, "write") for i in setup["items"]}

    def test_refusals_come_back_inline_keeping_what_was_typed(self, app, db_session, setup):
        client, csrf = _client(app, "mona@example.org")
        pid, item = setup["project"].id, setup["items"][0]
        nobody = client.post(
            f"/projects/{pid}/assign",
            data={
                "csrf_token": csrf,
                "item_id": str(item.id),
                "task": "fix",
                "due_date": "2027-03-04",
            },  # fmt: skip
        )
        assert nobody.status_code == 422
        assert "Choose at least one person." in nobody.text
        assert 'value="2027-03-04"' in nobody.text
        assert '<option value="fix" selected' in nobody.text
        assert f'name="item_id" value="{item.id}"' in nobody.text
        bad_date = client.post(
            f"/projects/{pid}/assign",
            data={
                "csrf_token": csrf,
                "item_id": str(item.id),
                "task": "write",
                "user_ids": str(setup["ann"].id),
                "due_date": "someday",
            },  # fmt: skip
        )
        assert bad_date.status_code == 422
        assert "A date like 2026-12-31, or empty." in bad_date.text
        annotator_review = client.post(
            f"/projects/{pid}/assign",
            data={
                "csrf_token": csrf,
                "item_id": str(item.id),
                "task": "review",
                "user_ids": str(setup["ann"].id),
            },  # fmt: skip
        )
        assert annotator_review.status_code == 422
        assert "ann@example.org is an annotator here" in annotator_review.text
        assert _rows(db_session) == set()

    def test_choosing_from_the_item_list_opens_the_form(self, app, db_session, setup):
        client, csrf = _client(app, "mona@example.org")
        pid, items = setup["project"].id, setup["items"]
        listing = client.get(f"/projects/{pid}/items")
        assert 'id="assign-selected"' in listing.text
        response = client.post(
            f"/projects/{pid}/assign",
            data={
                "csrf_token": csrf,
                "step": "choose",
                "action": "",
                "item_ids": [str(items[0].id), str(items[2].id)],
            },  # fmt: skip
        )
        assert response.status_code == 200
        assert "2 selected items" in response.text
        assert _rows(db_session) == set()

    def test_the_item_list_hides_the_entry_point_from_annotators(self, app, setup):
        client, _ = _client(app, "ann@example.org")
        listing = client.get(f"/projects/{setup['project'].id}/items")
        assert listing.status_code == 200
        assert 'id="assign-selected"' not in listing.text

    def test_unassign_one_row(self, app, db_session, setup, admin_user):
        item = setup["items"][0]
        assignments.assign(
            session=db_session, project_id=setup["project"].id, item_ids=[item.id],
            task="write", user_ids=[setup["ann"].id], due_date=None, actor=admin_user,
        )  # fmt: skip
        client, csrf = _client(app, "mona@example.org")
        response = client.post(
            f"/projects/{setup['project'].id}/unassign",
            data={
                "csrf_token": csrf,
                "item_id": str(item.id),
                "task": "write",
                "user_id": str(setup["ann"].id),
            },  # fmt: skip
        )
        assert response.status_code == 303
        assert _rows(db_session) == set()
        assert "Assignment removed." in client.get(response.headers["location"]).text


class TestHome:
    def test_open_assignments_come_first_with_links(self, app, db_session, setup, admin_user):
        draft, other, _ = setup["items"]
        pid = setup["project"].id
        for item, task, due in ((draft, "write", date(2020, 1, 1)), (other, "label", None)):
            assignments.assign(
                session=db_session, project_id=pid, item_ids=[item.id], task=task,
                user_ids=[setup["rev"].id], due_date=due, actor=admin_user,
            )  # fmt: skip
        client, _ = _client(app, "rev@example.org")
        home = client.get("/").text
        assert home.index('id="home-assigned"') < home.index('id="home-projects"')
        assert home.index(f"/items/{draft.id}/edit") < home.index(f"/projects/{pid}/label")
        assert "overdue" in home
        quiet, _ = _client(app, "mona@example.org")
        assert 'id="no-assigned"' in quiet.get("/").text
