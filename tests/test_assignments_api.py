"""The assignments JSON API: listing, assigning by id or email, removing, and one's own work."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import join, make_token, make_user
from tests.review_factories import make_item, make_project


@pytest.fixture
def api(app, db_session, admin_user):
    manager = make_user(db_session, email="mona@example.org")
    ann = make_user(db_session, email="ann@example.org")
    rev = make_user(db_session, role="reviewer", email="rev@example.org")
    project = make_project(db_session, admin_user, name="API work", members=(ann, rev))
    join(db_session, project, manager, role="manager")
    items = [
        make_item(db_session, project, manager, text=f"API item {n} to hand out.", submit=False)
        for n in range(2)
    ]
    client = TestClient(app, follow_redirects=False)

    def as_(person):
        token = make_token(db_session, scope="user", owner=person)
        return {"Authorization": f"Bearer {token}"}

    return {"client": client, "project": project, "items": items, "as": as_,
            "manager": manager, "ann": ann, "rev": rev}  # fmt: skip


def test_assign_list_and_remove(api):
    client, pid = api["client"], api["project"].id
    ids = [i.id for i in api["items"]]
    boss = api["as"](api["manager"])
    url = f"/api/v1/projects/{pid}/assignments"
    sent = client.post(
        url,
        json={
            "item_ids": ids,
            "task": "review",
            "emails": ["REV@example.org"],
            "due_date": "2027-05-01",
        },  # fmt: skip
        headers=boss,
    )
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"items": 2, "changed": 2}
    sent = client.post(url, json={"item_ids": ids[:1], "task": "write",
                                  "user_ids": [api["ann"].id]}, headers=boss)  # fmt: skip
    assert sent.json() == {"items": 1, "changed": 1}

    listed = client.get(url, headers=api["as"](api["rev"]))
    assert listed.status_code == 200
    assert [(r["item_id"], r["task"], r["email"], r["done"]) for r in listed.json()] == [
        (ids[0], "review", "rev@example.org", False),
        (ids[1], "review", "rev@example.org", False),
        (ids[0], "write", "ann@example.org", False),
    ]
    only = client.get(url, params={"task": "write"}, headers=boss).json()
    assert [r["user_id"] for r in only] == [api["ann"].id]
    by_user = client.get(url, params={"user_id": api["rev"].id}, headers=boss).json()
    assert {r["task"] for r in by_user} == {"review"}

    mine = client.get("/api/v1/me/assignments", headers=api["as"](api["rev"])).json()
    assert [(m["item_id"], m["due_date"], m["project_name"]) for m in mine] == [
        (ids[0], "2027-05-01", "API work"),
        (ids[1], "2027-05-01", "API work"),
    ]
    removed = client.post(f"{url}/remove", json={"item_ids": ids, "task": "review"}, headers=boss)
    assert removed.json() == {"items": 2, "changed": 2}
    assert client.get("/api/v1/me/assignments", headers=api["as"](api["rev"])).json() == []


def test_refusals(api, db_session):
    client, pid = api["client"], api["project"].id
    url = f"/api/v1/projects/{pid}/assignments"
    body = {"item_ids": [api["items"][0].id], "task": "write", "user_ids": [api["ann"].id]}
    assert client.post(url, json=body, headers=api["as"](api["rev"])).status_code == 403
    assert client.get(url, headers=api["as"](api["ann"])).status_code == 403
    outsider = make_user(db_session)
    assert client.get(url, headers=api["as"](outsider)).status_code == 404
    boss = api["as"](api["manager"])
    unknown = client.post(url, json={**body, "emails": ["ghost@example.org"]}, headers=boss)
    assert unknown.status_code == 422
    assert "ghost@example.org" in unknown.json()["detail"]
    stranger = client.post(url, json={**body, "user_ids": [outsider.id]}, headers=boss)
    assert stranger.status_code == 422
    assert "is not a member" in stranger.json()["detail"]
    missing = client.post(url, json={**body, "item_ids": [10**6]}, headers=boss)
    assert missing.status_code == 404
    bad_task = client.post(url, json={**body, "task": "paint"}, headers=boss)
    assert bad_task.status_code == 422


def test_assign_every_item_matching_the_filters(api, db_session):
    client, project = api["client"], api["project"]
    submitted = make_item(db_session, project, api["manager"], text="Submitted and waiting.")
    url = f"/api/v1/projects/{project.id}/assignments"
    boss = api["as"](api["manager"])
    body = {"matching": {"status": "draft"}, "task": "write", "emails": ["ann@example.org"]}
    sent = client.post(url, json=body, headers=boss)
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"items": 2, "changed": 2}
    assigned = {r["item_id"] for r in client.get(url, headers=boss).json()}
    assert assigned == {i.id for i in api["items"]} and submitted.id not in assigned
    for both_or_neither in (
        {**body, "item_ids": [submitted.id]},
        {"task": "write", "emails": ["ann@example.org"]},
        {**body, "matching": {"status": "lost"}},
        {**body, "matching": {"colour": "blue"}},
    ):
        assert client.post(url, json=both_or_neither, headers=boss).status_code == 422
