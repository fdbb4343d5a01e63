"""Making pairs from a round in the browser's HTML, on both databases: the closed round's page
offers it to its managers with a live count, the form queues a background task whose page
says what it made, bad fields and refused rounds come back with a sentence."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.models import Item
from tests.factories import join, make_user
from tests.helpers import login
from tests.round_pair_factories import judged_round

HX = {"HX-Request": "true"}


def _answer(index: int, position: int) -> tuple[str, list[str]]:
    # Prompts 1-3: both judges say A; prompt 4: A and a tie; the rest: ties.
    if position <= 3:
        return "a", ["incomplete"]
    if position == 4:
        return ("a", []) if index == 0 else ("tie", [])
    return "tie", []


@pytest.fixture
def judged(db_session):
    return judged_round(db_session, _answer, judges=2, overlap=2)


def _sign_in(client, user) -> str:
    client.cookies.clear()
    return login(client, user.email)


def _member(client, db_session, project, role: str):
    user = make_user(db_session)
    join(db_session, project, user, role=role)
    return user, _sign_in(client, user)


def _judged_pairs(db_session) -> int:
    return db_session.scalar(select(func.count()).select_from(Item).where(Item.origin == "judged"))


def _count(html: str, name: str) -> int:
    match = re.search(rf'data-{name}="(\d+)"', html)
    assert match, html
    return int(match.group(1))


class TestRoundPage:
    def test_a_manager_of_a_closed_round_is_offered_pairs(self, client, db_session, judged):
        project, admin, job, found, (judge, _) = judged
        _, csrf = _member(client, db_session, project, "manager")
        page = client.get(f"/rounds/{found.id}")
        assert 'id="make-pairs"' in page.text and 'id="improve-outputs"' in page.text
        form = page.text.split('id="pairs-form"')[1].split("</form>")[0]
        assert f'name="csrf_token" value="{csrf}"' in form
        assert f'hx-get="/rounds/{found.id}/pairs/preview?rule=unanimous' in page.text
        # A judge sees the results and may improve outputs, but makes no pairs.
        _sign_in(client, judge)
        page = client.get(f"/rounds/{found.id}")
        assert 'id="improve-outputs"' in page.text and 'id="make-pairs"' not in page.text

    def test_an_open_round_offers_nothing(self, client, db_session):
        project, admin, job, found, _ = judged_round(
            db_session, _answer, judges=1, overlap=2, close=False
        )
        _member(client, db_session, project, "manager")
        page = client.get(f"/rounds/{found.id}")
        assert page.status_code == 200 and "results-live" in page.text
        assert 'id="make-pairs"' not in page.text and 'id="improve-outputs"' not in page.text


class TestPreview:
    def test_the_count_follows_the_rule(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        _member(client, db_session, project, "manager")
        url = f"/rounds/{found.id}/pairs/preview"
        unanimous = client.get(url, params={"rule": "unanimous"}, headers=HX)
        assert unanimous.status_code == 200 and _count(unanimous.text, "pairs") == 3
        assert "3 pairs would be made" in unanimous.text
        # A and a tie is no majority of two judgments either.
        majority = client.get(url, params={"rule": "majority"}, headers=HX)
        assert _count(majority.text, "pairs") == 3
        one = client.get(url, params={"rule": "majority", "min_judgments": "3"}, headers=HX)
        assert _count(one.text, "pairs") == 0

    def test_bad_fields_say_so(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        _member(client, db_session, project, "manager")
        bad = ({"rule": "most"}, {"min_judgments": "0"}, {"min_judgments": "x"})
        # "²" passes str.isdigit but not int(): a sentence, never a server error.
        for params in (*bad, {"min_judgments": "²"}):
            answer = client.get(f"/rounds/{found.id}/pairs/preview", params=params, headers=HX)
            assert answer.status_code == 422 and 'data-pairs="error"' in answer.text
            page = client.get(f"/rounds/{found.id}/pairs", params=params)
            assert page.status_code == 422
            if "min_judgments" in params:
                assert "Enter a whole number from 1 to 100." in page.text


def _task_of(response) -> int:
    location = response.headers.get("HX-Redirect") or response.headers.get("location")
    match = re.fullmatch(r"/tasks/(\d+)", location or "")
    assert match, (response.status_code, response.headers)
    return int(match.group(1))


class TestMake:
    def test_the_form_queues_a_task_whose_page_says_what_it_made(
        self, client, db_session, judged, run_tasks
    ):
        project, admin, job, found, _ = judged
        _, csrf = _member(client, db_session, project, "manager")
        url = f"/rounds/{found.id}/pairs"
        made = client.post(url, data={"csrf_token": csrf, "rule": "unanimous"}, headers=HX)
        assert made.status_code == 204 and made.headers["HX-Redirect"]
        task_id = _task_of(made)
        assert _judged_pairs(db_session) == 0  # nothing made in the request
        queued = client.get(f"/tasks/{task_id}")
        assert queued.status_code == 200 and "<progress" in queued.text
        assert run_tasks() == [task_id]
        page = client.get(f"/tasks/{task_id}").text
        assert "3 pairs made as drafts." in page
        assert "8 prompts had no agreed winner." in page
        assert f'href="/projects/{project.id}/items?origin=judged&amp;kind=preference"' in page
        # Done, the polled fragment stays on the task's page with the outcome.
        polled = client.get(f"/tasks/{task_id}/progress", params={"follow": 1}, headers=HX)
        assert polled.status_code == 200 and "3 pairs made as drafts." in polled.text
        assert _judged_pairs(db_session) == 3
        again = _task_of(client.post(url, data={"csrf_token": csrf, "rule": "unanimous"}))
        assert run_tasks() == [again]
        page = client.get(f"/tasks/{again}").text
        assert "0 pairs made as drafts." in page
        assert "3 prompts already had a pair from this round." in page
        assert _judged_pairs(db_session) == 3

    def test_without_script_the_form_leads_to_the_task(self, client, db_session, judged, run_tasks):
        project, admin, job, found, _ = judged
        _, csrf = _member(client, db_session, project, "manager")
        made = client.post(
            f"/rounds/{found.id}/pairs",
            data={"csrf_token": csrf, "rule": "majority", "min_judgments": "1"},
        )
        assert made.status_code == 303
        task_id = _task_of(made)
        run_tasks()
        page = client.get(f"/tasks/{task_id}")
        assert page.status_code == 200 and "<html" in page.text
        assert f'id="pairs-outcome-{task_id}"' in page.text and _count(page.text, "made") == 3

    def test_the_judged_pairs_are_in_the_item_list(self, client, db_session, judged, run_tasks):
        project, admin, job, found, _ = judged
        _, csrf = _member(client, db_session, project, "manager")
        client.post(f"/rounds/{found.id}/pairs", data={"csrf_token": csrf}, headers=HX)
        run_tasks()
        listing = client.get(f"/projects/{project.id}/items", params={"origin": "judged"})
        assert listing.status_code == 200
        ids = db_session.scalars(select(Item.id).where(Item.origin == "judged")).all()
        assert len(ids) == 3
        for item_id in ids:
            assert f'href="/items/{item_id}/edit"' in listing.text

    def test_bad_fields_come_back_in_the_form(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        _, csrf = _member(client, db_session, project, "manager")
        data = {"csrf_token": csrf, "rule": "majority", "min_judgments": "0"}
        answer = client.post(f"/rounds/{found.id}/pairs", data=data, headers=HX)
        assert answer.status_code == 422 and 'id="make-pairs"' in answer.text
        assert '<option value="majority" selected>' in answer.text

    def test_an_open_round_is_refused_with_a_sentence(self, client, db_session):
        project, admin, job, found, _ = judged_round(
            db_session, _answer, judges=1, overlap=2, close=False
        )
        _, csrf = _member(client, db_session, project, "manager")
        refused = client.post(f"/rounds/{found.id}/pairs", data={"csrf_token": csrf}, headers=HX)
        assert refused.status_code == 409
        assert "Close the round first" in refused.text and 'id="pairs-error"' in refused.text
        page = client.get(f"/rounds/{found.id}/pairs")
        assert page.status_code == 409 and "Close the round first" in page.text
        assert _judged_pairs(db_session) == 0

    def test_only_managers_make_pairs(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        for role in ("annotator", "reviewer"):
            _, csrf = _member(client, db_session, project, role)
            made = client.post(f"/rounds/{found.id}/pairs", data={"csrf_token": csrf})
            assert made.status_code == 403
            assert client.get(f"/rounds/{found.id}/pairs").status_code == 403
        assert _judged_pairs(db_session) == 0

    def test_a_post_without_its_csrf_token_is_refused(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        _member(client, db_session, project, "manager")
        assert client.post(f"/rounds/{found.id}/pairs", data={}).status_code == 403
        assert _judged_pairs(db_session) == 0
