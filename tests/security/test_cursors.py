"""Malformed paging cursors: garbage, broken base64, JSON of the wrong shape or type, negative
and huge numbers, sent to every route that pages. Each must answer 4xx with a sentence (422
JSON on the API, the HTML error page otherwise), never 500; the cursors the app writes still
page through the list."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from app.core import job_paths
from app.datasets import freezing
from app.models import Item
from tests.dataset_factories import approved_project
from tests.factories import make_token
from tests.helpers import login

HUGE = 10**30  # beyond SQLite's 64-bit integers and PostgreSQL's bigint


def b64(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return base64.urlsafe_b64encode(text.encode()).decode()


GARBAGE = [
    "garbage!!",
    "%%%",
    " ",
    "a",  # bad padding
    "AAAA",  # three zero bytes: not JSON
    "////",
    "é",  # not ASCII
    b64("not json"),
    b64("{}"),
    b64('"a string"'),
    b64("12"),
    b64("null"),
    b64("[]"),
    b64("[[]]"),
    b64('[{"id": 1}]'),
    b64("[-1]"),
    b64("[0]"),
    b64(f"[{HUGE}]"),
    b64(f"[-{HUGE}]"),
    b64("[1e400]"),
    b64("[NaN]"),
    b64("[Infinity]"),
    b64("[1.5]"),
    b64("[true]"),
    b64("[null]"),
    b64('["1"]'),
    b64("[1, 2, 3]"),
    b64('["2024-01-01T00:00:00+00:00"]'),
    b64('["not a date", 1]'),
    b64('["2024-01-01T00:00:00+00:00", "x"]'),
    b64(f'["2024-01-01T00:00:00+00:00", {HUGE}]'),
    b64('["2024-13-45T99:00:00", 1]'),
    b64("[" * 5000 + "]" * 5000),
    "A" * 10_000,
]
SORTS = ["newest", "oldest", "updated"]


@pytest.fixture
def raw_client(app):
    """A client that shows a server error as the 500 a browser would get, not as an exception."""
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def project(db_session):
    project, admin, _items = approved_project(db_session, name="Paged")
    return project, admin


def _is_refusal(response, *, api: bool) -> bool:
    if not 400 <= response.status_code < 500:
        return False
    if api:
        body = response.json()
        return body.get("error") in {"invalid", "validation_error"} and bool(body.get("detail"))
    return 'data-status="4' in response.text and "<html" in response.text


@pytest.mark.parametrize("sort", SORTS)
def test_the_item_pages_refuse_every_malformed_cursor(raw_client, project, sort):
    project, admin = project
    login(raw_client, admin.email)
    html = f"/projects/{project.id}/items"
    api = f"/api/v1/projects/{project.id}/items"
    answers = {}
    for cursor in GARBAGE:
        page = raw_client.get(html, params={"sort": sort, "cursor": cursor})
        data = raw_client.get(api, params={"sort": sort, "cursor": cursor})
        if not (_is_refusal(page, api=False) and _is_refusal(data, api=True)):
            answers[cursor[:40]] = (page.status_code, data.status_code)
    assert answers == {}


def test_the_refusal_says_what_to_do(raw_client, project):
    from app.items.repository import BAD_CURSOR

    project, admin = project
    login(raw_client, admin.email)
    cursor = b64({"id": 1})
    data = raw_client.get(f"/api/v1/projects/{project.id}/items", params={"cursor": cursor})
    assert data.status_code == 422
    assert data.json() == {"error": "invalid", "detail": BAD_CURSOR}
    page = raw_client.get(f"/projects/{project.id}/items", params={"cursor": cursor})
    assert page.status_code == 422 and BAD_CURSOR in page.text


@pytest.mark.parametrize("sort", SORTS)
def test_the_cursors_the_app_writes_still_page(client, db_session, project, sort):
    project, admin = project
    login(client, admin.email)
    total = db_session.query(Item).filter(Item.project_id == project.id).count()
    seen: list[int] = []
    cursor = None
    while True:
        params = {"sort": sort, "limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/api/v1/projects/{project.id}/items", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(set(seen)) and len(seen) == total


@pytest.mark.parametrize("before", ["abc", "-1", "0", "1.5", "1e3", str(HUGE), str(2**63), ""])
def test_the_audit_page_refuses_a_malformed_before(raw_client, admin_user, before):
    login(raw_client, admin_user.email)
    page = raw_client.get("/admin/audit", params={"before": before})
    assert _is_refusal(page, api=False), (page.status_code, before)


def test_the_audit_page_follows_its_own_before(raw_client, admin_user):
    login(raw_client, admin_user.email)
    assert raw_client.get("/admin/audit", params={"before": 2**31 - 1}).status_code == 200


def test_the_version_comparison_refuses_a_malformed_other(raw_client, db_session):
    from app.datasets.versions import VersionFilter

    made = []
    for name in ("Compared", "Elsewhere"):
        project, admin, _ = approved_project(db_session, name=name)
        made.append(
            freezing.create_version(
                session=db_session, project=project, name="v1", f=VersionFilter(), actor=admin
            )
        )
    version, elsewhere = made
    login(raw_client, admin.email)
    for other in ["x", "-3", "0", str(HUGE), str(2**40), "2147483647", str(elsewhere.id)]:
        page = raw_client.get(f"/datasets/{version.id}", params={"other": other})
        assert _is_refusal(page, api=False), (page.status_code, other)


def test_the_worker_split_refuses_a_malformed_after(raw_client, db_session):
    project, admin, _ = approved_project(db_session, name="Worker paged")
    from app.datasets.versions import VersionFilter

    version = freezing.create_version(
        session=db_session, project=project, name="v1", f=VersionFilter(), actor=admin
    )
    admin_headers = {"Authorization": f"Bearer {make_token(db_session, scope='user', owner=admin)}"}
    worker = {"Authorization": f"Bearer {make_token(db_session, scope='worker')}"}
    launched = raw_client.post(
        job_paths.API_ROOT + "/jobs",
        headers=admin_headers,
        json={"dataset_version_id": version.id, "base_model": "tiny", "params": {"max_steps": 5}},
    )
    assert launched.status_code == 201, launched.text
    claimed = raw_client.post(
        job_paths.API_ROOT + job_paths.WorkerPath.CLAIM, headers=worker, json={"worker": "w"}
    )
    assert claimed.status_code == 200, claimed.text
    split = job_paths.WorkerPath.SPLIT.format(version_id=version.id, split="train")
    path = job_paths.API_ROOT + split
    assert raw_client.get(path, headers=worker).status_code == 200
    for after in ["x", "-2", "1.5", str(HUGE), str(2**63), "[1]"]:
        response = raw_client.get(path, headers=worker, params={"after": after})
        assert _is_refusal(response, api=True), (response.status_code, after)
