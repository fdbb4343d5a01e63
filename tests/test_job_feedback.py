"""The data map page and sending items back to review: the loop from training to people."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.datasets import freezing
from app.items import service as items
from app.jobs import datamap
from app.models import AuditEvent, Item
from app.reviews import service as reviews
from app.reviews.service import QueueFilter
from tests.dataset_factories import DRAFTS
from tests.factories import join, make_user
from tests.helpers import login
from tests.job_factories import project_version, run_job


@pytest.fixture
def finished(db_session):
    project, admin, version = project_version(db_session, name="Feedback")
    job, train = run_job(db_session, version, admin, hard=set())
    return project, admin, version, job, train


def _member(session, *projects, role="annotator"):
    """A new user who is a member of each of ``projects``."""
    person = make_user(session, role=role)
    for project in projects:
        join(session, project, person)
    return person


def test_low_confidence_items_are_hard_and_listed_first(client, db_session):
    project, admin, version = project_version(db_session, name="Hard items")
    probe, train = run_job(db_session, version, admin, finish=False)
    hard = set(train[:2])
    job, _ = run_job(db_session, version, admin, hard=hard)
    data = datamap.for_job(db_session, job.id)
    assert {p.item_id for p in data.points if p.region == "hard"} == hard
    assert {p.item_id for p in data.hardest(2)} == hard
    reviewer = _member(db_session, project, role="reviewer")
    login(client, reviewer.email)
    page = client.get(f"/jobs/{job.id}/datamap")
    assert page.status_code == 200
    dots = dict(re.findall(r'data-item="(\d+)" data-region="(\w+)"', page.text))
    assert {int(i) for i, r in dots.items() if r == "hard"} == hard
    first_rows = re.findall(r'<tr data-item="(\d+)" data-region="hard"', page.text)
    assert {int(i) for i in first_rows} == hard
    fragment = client.get(f"/jobs/{job.id}/datamap", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    empty = client.get(f"/jobs/{probe.id}/datamap")
    assert "No training dynamics yet" not in empty.text  # the probe reported dynamics too


def test_send_back_reopens_items_first_in_queue_with_audit(client, db_session, finished):
    project, admin, version, job, train = finished
    # An item submitted later would normally come first in age order… it must not.
    author = _member(db_session, project)
    items.create_item(
        session=db_session, project=project, draft=DRAFTS[0], author=author, submit=True
    )
    reviewer = _member(db_session, project, role="reviewer")
    csrf = login(client, reviewer.email)
    chosen = train[-2:]
    response = client.post(
        f"/jobs/{job.id}/send-back",
        data={
            "csrf_token": csrf,
            "item_ids": chosen,
            "comment": "looks wrong",
            "back": f"/jobs/{job.id}/datamap",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/jobs/{job.id}/datamap"
    assert "2 items sent back to review." in client.get(response.headers["location"]).text
    for item_id in chosen:
        item = db_session.get(Item, item_id)
        db_session.refresh(item)
        assert item.status == "submitted"
        assert item.reopen_reason.startswith("flagged_by_training")
        assert item.reopen_link == f"/jobs/{job.id}"
    first = reviews.claim_next(
        session=db_session, reviewer=reviewer, f=QueueFilter(project_id=project.id)
    )
    assert first.id in chosen
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.in_(["review.reopen", "job.sent_back"]))
    ).all()
    assert actions.count("review.reopen") == 2 and actions.count("job.sent_back") == 1
    again = client.post(f"/jobs/{job.id}/send-back", data={"csrf_token": csrf, "item_ids": chosen})
    assert again.status_code == 303  # nothing approved any more: skipped, and said so
    said = client.get(again.headers["location"]).text
    assert "0 items sent back to review. 2 were not approved and were left as they are." in said
    assert db_session.scalars(
        select(AuditEvent.after).where(AuditEvent.action == "job.sent_back").order_by(AuditEvent.id)
    ).all()[-1]["skipped"] == sorted(chosen)


def test_reviewer_sees_the_reason_and_the_job_link_in_review(client, db_session, finished):
    project, admin, version, job, train = finished
    reviewer = _member(db_session, project, role="reviewer")
    csrf = login(client, reviewer.email)
    client.post(f"/jobs/{job.id}/send-back", data={"csrf_token": csrf, "item_ids": [train[0]]})
    queue = client.post(
        f"/projects/{project.id}/review/next", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert queue.status_code == 200
    assert 'id="reopen-reason"' in queue.text
    assert f'href="/jobs/{job.id}"' in queue.text


def test_bad_send_backs_are_refused(client, db_session, finished):
    project, admin, version, job, train = finished
    other_project, other_admin, other_version = project_version(db_session, name="Elsewhere")
    stranger = db_session.scalar(select(Item.id).where(Item.project_id == other_project.id))
    # A reviewer of both projects: still, only this job's items are sent back from its page.
    reviewer = _member(db_session, project, other_project, role="reviewer")
    csrf = login(client, reviewer.email)
    nothing = client.post(f"/jobs/{job.id}/send-back", data={"csrf_token": csrf})
    assert nothing.status_code == 422
    outsider = client.post(
        f"/jobs/{job.id}/send-back", data={"csrf_token": csrf, "item_ids": [stranger]}
    )
    assert outsider.status_code == 422
    assert db_session.get(Item, stranger).status == "approved"
    no_csrf = client.post(f"/jobs/{job.id}/send-back", data={"item_ids": [train[0]]})
    assert no_csrf.status_code == 403
    annotator = _member(db_session, project)
    client.cookies.clear()
    csrf = login(client, annotator.email)
    denied = client.post(
        f"/jobs/{job.id}/send-back", data={"csrf_token": csrf, "item_ids": [train[0]]}
    )
    assert denied.status_code == 403
    db_session.refresh(db_session.get(Item, train[0]))
    assert db_session.get(Item, train[0]).status == "approved"


def test_send_back_from_a_failing_eval_item(client, db_session, finished):
    project, admin, version, job, train = finished
    csrf = login(client, admin.email)
    page = client.get(f"/jobs/{job.id}/results", params={"show": "broken"})
    failing = [int(i) for i in re.findall(r'<tr data-item="(\d+)"', page.text)]
    assert failing
    back = f"/jobs/{job.id}/results?show=broken"
    response = client.post(
        f"/jobs/{job.id}/send-back",
        data={"csrf_token": csrf, "item_ids": failing[:1], "back": back},
    )
    assert response.status_code == 303 and response.headers["location"] == back
    item = db_session.get(Item, failing[0])
    db_session.refresh(item)
    assert item.status == "submitted" and item.review_priority == 1


def test_hostile_text_is_inert_on_job_pages(client, db_session):
    from app.datasets.versions import VersionFilter
    from app.items.schemas import ItemDraft
    from tests.dataset_factories import approved_project

    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">' + "x" * 3000
    drafts = [
        ItemDraft(kind="task", instruction=f"{hostile} {i}", output=f"{hostile} out {i}")
        for i in range(6)
    ]
    project, admin, _ = approved_project(db_session, drafts=drafts, name="Hostile")
    version = freezing.create_version(
        session=db_session,
        project=project,
        name="<b>v</b>",
        f=VersionFilter(),
        actor=admin,
        eval_fraction=0.34,
    )
    job, train = run_job(db_session, version, admin, hard={})
    login(client, admin.email)
    for url in (f"/jobs/{job.id}", f"/jobs/{job.id}/results", f"/jobs/{job.id}/datamap", "/jobs"):
        page = client.get(url)
        assert page.status_code == 200
        assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text, url
        assert "<b>v</b>" not in page.text, url
