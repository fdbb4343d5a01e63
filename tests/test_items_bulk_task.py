"""A bulk action over every item matching the list's filter, as a background task: the page
that counts the matches and queues it, the task's batches (the per-page actions' rules and
audit events, items written later left alone), the way back to the list, the JSON API, cancel
and resume between batches, and `studio items bulk`. On both databases."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Pause
from app.background.runner import Runner
from app.db import begin_for_write
from app.items import bulk_task, editors
from app.items import service as items
from app.items.repository import ItemFilter
from app.items.schemas import ItemDraft
from app.models import Assignment, AuditEvent, BackgroundTask, Item, SearchTerm
from app.projects import service as projects
from app.projects.service import ProjectInput
from app.tasks import KINDS
from tests.factories import join, make_token, make_user
from tests.helpers import login

BATCH = 3


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"background_batch_rows": BATCH})


@pytest.fixture
def project(db_session, admin_user, annotator_user):
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Bulk"), actor=admin_user
    )
    join(db_session, project, annotator_user)
    return project


def _item(session, project, author, text, *, output="Answer.", submit=False, **meta):
    draft = ItemDraft(kind="task", instruction=text, output=output, **meta)
    return items.create_item(
        session=session, project=project, draft=draft, author=author, submit=submit
    )


def _events(session, action: str) -> int:
    return session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def _start(client, csrf, project, headers=None, **data):
    return client.post(
        f"/projects/{project.id}/items/bulk/all",
        data={"csrf_token": csrf, **data},
        headers=headers or {},
    )


class TestThePage:
    def test_the_list_offers_every_match_and_the_page_counts_them(
        self, client, db_session, annotator_user, project
    ):
        for n in range(4):
            _item(db_session, project, annotator_user, f"Sum {n} and 1.", domain="math")
        _item(db_session, project, annotator_user, "Paint a cat.", domain="art")
        login(client, annotator_user.email)
        listing = client.get(f"/projects/{project.id}/items", params={"domain": "math"}).text
        link = re.search(r'id="bulk-all" href="([^"]+)"', listing)
        assert link and "domain=math" in link[1]
        page = client.get(link[1].replace("&amp;", "&"))
        assert page.status_code == 200
        assert "4 items match these filters." in page.text
        assert 'name="domain" value="math"' in page.text
        assert "Apply to all 4 items" in page.text

    def test_the_filter_forms_any_choices_are_no_filter(
        self, client, db_session, annotator_user, project
    ):
        # The form sends every field: "any author" is author= (no filter), not a bad number.
        _item(db_session, project, annotator_user, "Sum 1 and 1.", domain="math")
        login(client, annotator_user.email)
        fields = ("q", "kind", "status", "author", "difficulty", "language", "tag", "created_from")
        params = {**dict.fromkeys(fields, ""), "created_to": "", "domain": "math"}
        listing = client.get(f"/projects/{project.id}/items", params=params)
        assert listing.status_code == 200 and 'id="bulk-all"' in listing.text
        bad = client.get(f"/projects/{project.id}/items", params={"difficulty": "6"})
        assert bad.status_code == 422

    def test_confirming_queues_a_task_that_leads_back_to_the_list(
        self, client, db_session, annotator_user, project, run_tasks
    ):
        math = [
            _item(db_session, project, annotator_user, f"Add {n}.", domain="math") for n in range(7)
        ]
        art = _item(db_session, project, annotator_user, "Paint a cat.", domain="art")
        csrf = login(client, annotator_user.email)
        response = _start(client, csrf, project, action="tag", new_tag=" checked ", domain="math")
        assert response.status_code == 303, response.text
        task_id = int(re.fullmatch(r"/tasks/(\d+)", response.headers["location"])[1])
        task = db_session.get(BackgroundTask, task_id)
        assert (task.kind, task.state, task.total) == ("items.bulk", "queued", 7)
        later = _item(db_session, project, annotator_user, "Add 99.", domain="math")
        assert run_tasks() == [task_id]
        db_session.refresh(task)
        assert task.state == "done", task.error
        assert task.result["changed"] == task.result["items"] == 7
        assert task.checkpoint["batches"] == 3  # 3 + 3 + 1
        for item in [*math, art, later]:
            db_session.refresh(item)
        assert all(item.tags == ["checked"] for item in math)
        assert art.tags == [] and later.tags == []  # not matching; written after the queueing
        assert _events(db_session, "item.tagged") == 7
        queued = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "task.queued"))
        assert queued.after["action"] == "tag" and queued.after["items"] == 7
        assert queued.after["filter"] == {"domain": "math"}
        # The task's page, once done, leads back to the list with the filter and the outcome.
        done = client.get(f"/tasks/{task_id}/progress", params={"follow": 1})
        assert done.status_code == 303
        assert done.headers["location"] == f"/projects/{project.id}/items?domain=math"
        assert "7 of 7 items changed." in client.get(done.headers["location"]).text
        page = client.get(f"/tasks/{task_id}").text
        assert f'id="task-result-{task_id}"' in page and "7 of 7 items changed." in page

    def test_a_search_is_a_filter_like_any_other(
        self, client, db_session, annotator_user, project, run_tasks
    ):
        found = [_item(db_session, project, annotator_user, f"光合作用 {n}.") for n in range(4)]
        other = _item(db_session, project, annotator_user, "Explain gravity.")
        csrf = login(client, annotator_user.email)
        response = _start(client, csrf, project, action="tag", new_tag="bio", q="光合作用")
        assert response.status_code == 303, response.text
        run_tasks()
        for item in (*found, other):
            db_session.refresh(item)
        assert [i.tags for i in found] == [["bio"]] * 4 and other.tags == []
        task = db_session.scalar(select(BackgroundTask))
        assert task.result["filter"] == {"q": "光合作用"} and task.checkpoint["batches"] == 2

    def test_htmx_is_redirected_to_the_task(self, client, db_session, annotator_user, project):
        _item(db_session, project, annotator_user, "One.")
        csrf = login(client, annotator_user.email)
        response = _start(client, csrf, project, {"HX-Request": "true"}, action="submit")
        assert response.status_code == 204
        assert re.fullmatch(r"/tasks/\d+", response.headers["HX-Redirect"])

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"action": "tag", "new_tag": "  "}, "Give a tag."),
            ({"action": "explode"}, "Choose an action."),
            ({"action": "submit", "domain": "nowhere"}, "No items match these filters."),
        ],
    )
    def test_a_refused_form_comes_back_and_queues_nothing(
        self, client, db_session, annotator_user, project, data, message
    ):
        _item(db_session, project, annotator_user, "One.")
        csrf = login(client, annotator_user.email)
        response = _start(client, csrf, project, **data)
        assert response.status_code == 422
        assert message in response.text
        assert db_session.scalar(select(func.count()).select_from(BackgroundTask)) == 0


class TestTheRules:
    """The per-page actions' rules, batch by batch."""

    def test_submit_takes_drafts_ready_for_review(
        self, client, db_session, annotator_user, project, run_tasks
    ):
        ready = _item(db_session, project, annotator_user, "Ready.")
        empty = _item(db_session, project, annotator_user, "No output.", output="")
        sent = _item(db_session, project, annotator_user, "Sent.", submit=True)
        csrf = login(client, annotator_user.email)
        assert _start(client, csrf, project, action="submit").status_code == 303
        run_tasks()
        for item in (ready, empty, sent):
            db_session.refresh(item)
        assert [ready.status, empty.status, sent.status] == ["submitted", "draft", "submitted"]
        task = db_session.scalar(select(BackgroundTask))
        assert (task.result["changed"], task.result["items"]) == (1, 3)

    def test_delete_takes_drafts_only_and_their_index_rows(
        self, client, db_session, annotator_user, project, run_tasks
    ):
        drafts = [_item(db_session, project, annotator_user, f"Drop {n}.") for n in range(4)]
        kept = _item(db_session, project, annotator_user, "Keep this.", submit=True)
        csrf = login(client, annotator_user.email)
        assert _start(client, csrf, project, action="delete").status_code == 303
        run_tasks()
        db_session.expire_all()
        assert [i.id for i in db_session.scalars(select(Item))] == [kept.id]
        ids = [d.id for d in drafts]
        assert not db_session.scalars(select(SearchTerm).where(SearchTerm.item_id.in_(ids))).all()
        assert _events(db_session, "item.deleted") == 4

    @pytest.mark.parametrize("shared", [True, False])
    def test_another_annotators_drafts_are_left_alone(
        self, client, db_session, annotator_user, project, run_tasks, shared
    ):
        # Shared drafts are counted but not theirs to change; private ones are not counted.
        project.drafts_shared = shared
        theirs = [_item(db_session, project, annotator_user, f"Theirs {n}.") for n in range(2)]
        other = make_user(db_session, role="annotator")
        join(db_session, project, other)
        mine = _item(db_session, project, other, "Mine.")
        csrf = login(client, other.email)
        assert _start(client, csrf, project, action="tag", new_tag="x").status_code == 303
        task = db_session.scalar(select(BackgroundTask))
        assert task.total == (3 if shared else 1)
        run_tasks()
        db_session.refresh(task)
        assert (task.result["changed"], task.result["items"]) == (1, task.total)
        for item in (*theirs, mine):
            db_session.refresh(item)
        assert [i.tags for i in theirs] == [[], []] and mine.tags == ["x"]

    def test_the_batch_rule_is_the_single_items_rule(self, db_session, annotator_user, project):
        own = _item(db_session, project, annotator_user, "Own.")
        handed = _item(db_session, project, make_user(db_session), "Handed.")
        other = _item(db_session, project, make_user(db_session), "Not handed.")
        db_session.add(
            Assignment(
                project_id=project.id, item_id=handed.id, user_id=annotator_user.id, task="write"
            )
        )
        db_session.flush()
        batch = [own, handed, other]
        assert editors.editable_ids(db_session, annotator_user, batch) == {own.id, handed.id}
        assert [editors.can_edit(annotator_user, i) for i in batch] == [True, True, False]


class TestTheApi:
    def _headers(self, session, user):
        return {"Authorization": f"Bearer {make_token(session, scope='user', owner=user)}"}

    def test_a_bulk_action_is_accepted_then_polled(
        self, client, db_session, annotator_user, project, run_tasks
    ):
        for n in range(5):
            _item(db_session, project, annotator_user, f"Item {n}.", submit=n % 2 == 0)
        headers = self._headers(db_session, annotator_user)
        body = {"action": "tag", "tag": "api", "filter": {"status": "submitted"}}
        response = client.post(
            f"/api/v1/projects/{project.id}/items/bulk", json=body, headers=headers
        )
        assert response.status_code == 202, response.text
        task = response.json()
        assert (task["kind"], task["state"], task["total"]) == ("items.bulk", "queued", 3)
        run_tasks()
        polled = client.get(f"/api/v1/tasks/{task['id']}", headers=headers).json()
        assert polled["state"] == "done"
        assert polled["result"]["changed"] == polled["result"]["items"] == 3
        assert polled["result"]["filter"] == {"status": "submitted"}

    @pytest.mark.parametrize(
        "body",
        [
            {"action": "tag", "tag": ""},
            {"action": "tag", "tag": "x", "filter": {"colour": "red"}},
            {"action": "submit", "filter": {"status": "lost"}},
            {"action": "submit", "filter": {"domain": "nowhere"}},
            {"action": "burn"},
        ],
    )
    def test_bad_requests_are_refused(self, client, db_session, annotator_user, project, body):
        _item(db_session, project, annotator_user, "One.")
        headers = self._headers(db_session, annotator_user)
        url = f"/api/v1/projects/{project.id}/items/bulk"
        assert client.post(url, json=body, headers=headers).status_code == 422

    def test_outsiders_find_nothing(self, client, db_session, annotator_user, project):
        outsider = make_user(db_session, role="annotator")
        response = client.post(
            f"/api/v1/projects/{project.id}/items/bulk",
            json={"action": "submit"},
            headers=self._headers(db_session, outsider),
        )
        assert response.status_code == 404


def test_the_stored_filter_is_the_lists_query():
    f = ItemFilter(project_id=1, q="机器", status="draft", author_id=7, created_from=None)
    stored = bulk_task.stored_filter(f)
    assert stored == {"q": "机器", "status": "draft", "author": 7}
    again = bulk_task.filter_of(1, stored)
    assert (again.q, again.status, again.author_id, again.sort) == ("机器", "draft", 7, "oldest")


# -- between batches: cancel and resume, with real commits ---------------------------------------


def _queued_tag(engine, n: int) -> tuple[int, int]:
    """A committed project with ``n`` drafts and a queued bulk tag over them: (project, task)."""
    with Session(engine, expire_on_commit=False) as session:
        begin_for_write(session)
        admin = make_user(session, role="admin")
        project = projects.create_project(
            session=session, data=ProjectInput(name=f"Bulk {id(engine)}"), actor=admin
        )
        for i in range(n):
            _item(session, project, admin, f"Count to {i}.")
        task = bulk_task.start(
            session=session,
            project=project,
            f=ItemFilter(project_id=project.id),
            action="tag",
            tag="late",
            actor=admin,
        )
        session.commit()
        return project.id, task.id


def _runner(engine, **options) -> Runner:
    return Runner(
        lambda: Session(engine, expire_on_commit=False), KINDS, batch_rows=BATCH, **options
    )


def _tagged(engine, project_id: int) -> int:
    with Session(engine) as session:
        rows = session.scalars(select(Item.tags).where(Item.project_id == project_id))
        return sum("late" in tags for tags in rows)


def _task(engine, task_id: int) -> BackgroundTask:
    with Session(engine) as session:
        return session.get(BackgroundTask, task_id)


def _wait_for_batches(engine, task_id: int, batches: int) -> None:
    import time

    deadline = time.monotonic() + 60  # a hang guard, not a timing
    while _task(engine, task_id).checkpoint.get("batches", 0) < batches:
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def test_a_cancel_stops_between_batches_keeping_those_done(committed):
    project_id, task_id = _queued_tag(committed, 8)
    runner = _runner(committed, pause=Pause(after_batch=1, seconds=30))
    worker = threading.Thread(target=runner.run_one, kwargs={"heartbeat": True})
    worker.start()
    try:
        _wait_for_batches(committed, task_id, 1)
        with Session(committed) as session:
            begin_for_write(session)
            queue.request_cancel(session, task=session.get(BackgroundTask, task_id), actor=None)
            session.commit()
    finally:
        runner.stop()
        worker.join(60)
    if _task(committed, task_id).state == "queued":  # the stop won: handed back, then cancelled
        _runner(committed).run_one()
    task = _task(committed, task_id)
    assert (task.state, task.done, task.total) == ("cancelled", BATCH, 8)
    assert _tagged(committed, project_id) == BATCH


def test_a_task_handed_back_goes_on_after_its_last_batch(committed):
    project_id, task_id = _queued_tag(committed, 8)
    first = _runner(committed, pause=Pause(after_batch=2, seconds=60))
    worker = threading.Thread(target=first.run_one, kwargs={"heartbeat": True})
    worker.start()
    _wait_for_batches(committed, task_id, 2)
    first.stop()
    worker.join(60)
    task = _task(committed, task_id)
    assert (task.state, task.checkpoint["items"]) == ("queued", 2 * BATCH)
    assert _runner(committed).run_one() == task_id
    task = _task(committed, task_id)
    assert task.state == "done" and task.checkpoint["batches"] == 3
    assert task.result["changed"] == task.result["items"] == 8 == _tagged(committed, project_id)
    with Session(committed) as session:
        tagged = select(func.count()).where(AuditEvent.action == "item.tagged")
        assert session.scalar(tagged) == 8  # each item once, across both attempts
