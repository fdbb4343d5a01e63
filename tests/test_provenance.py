"""Every item records how it was made: written, imported (file and line) or demo; lists and
version filters select by it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.assignments.forms import item_filter
from app.core.provenance import Origin, Provenance
from app.datasets.versions import VersionFilter, matching
from app.items import repository
from app.items import service as items
from app.items.bulk_task import filter_of, stored_filter
from app.items.schemas import ItemDraft
from app.models import Item
from tests.api_helpers import bearer
from tests.factories import make_user
from tests.helpers import login
from tests.import_factories import import_file
from tests.review_factories import make_project


@pytest.fixture
def project_with_origins(db_session, tmp_path):
    """A project with one written item, one demo item and three imported rows, the second of
    which is refused (no output column), so the third is on line 3."""
    admin = make_user(db_session, role="admin")
    project = make_project(db_session, admin, name="Origins")
    items.create_item(
        session=db_session,
        project=project,
        draft=ItemDraft(kind="task", instruction="Written by hand.", output="Yes."),
        author=admin,
    )
    items.create_item(
        session=db_session,
        project=project,
        draft=ItemDraft(kind="task", instruction="Loaded with the demo.", output="Yes."),
        author=admin,
        provenance=Provenance(origin=Origin.demo, key="hello"),
    )
    lines = [
        {"instruction": "Imported first.", "input": "", "output": "One."},
        {"instruction": "Refused: no output."},
        {"instruction": "Imported third.", "input": "", "output": "Three."},
    ]
    payload = "\n".join(json.dumps(line) for line in lines).encode()
    job = import_file(
        db_session, tmp_path, project, admin, "rows.jsonl", payload, mode="valid_rows"
    )
    db_session.flush()
    return project, admin, job


def test_each_item_says_how_it_was_made(db_session, project_with_origins):
    project, _admin, job = project_with_origins
    rows = db_session.scalars(select(Item).where(Item.project_id == project.id)).all()
    made = {row.instruction: (row.origin, row.provenance) for row in rows}
    assert made == {
        "Written by hand.": ("written", {}),
        "Loaded with the demo.": ("demo", {"key": "hello"}),
        "Imported first.": ("imported", {"import_id": job.id, "file": "rows.jsonl", "line": 1}),
        "Imported third.": ("imported", {"import_id": job.id, "file": "rows.jsonl", "line": 3}),
    }


def test_the_api_shows_and_filters_by_origin(db_session, client, project_with_origins):
    project, admin, _job = project_with_origins
    url = f"/api/v1/projects/{project.id}/items"
    headers = bearer(db_session, admin)
    every = client.get(url, headers=headers).json()["items"]
    assert sorted(item["origin"] for item in every) == ["demo", "imported", "imported", "written"]
    imported = client.get(url, params={"origin": "imported"}, headers=headers).json()["items"]
    assert sorted(item["provenance"]["line"] for item in imported) == [1, 3]
    assert client.get(url, params={"origin": "copied"}, headers=headers).status_code == 422


def test_a_version_filter_selects_by_origin(db_session, project_with_origins):
    project, _admin, _job = project_with_origins
    f = VersionFilter(statuses=["draft"], origins=["written", "demo"])
    chosen = db_session.scalars(
        select(Item.instruction).where(Item.id.in_(matching(project.id, f)))
    ).all()
    assert sorted(chosen) == ["Loaded with the demo.", "Written by hand."]
    assert VersionFilter.from_dict(f.as_dict()) == f


def test_the_list_filter_and_bulk_tasks_carry_the_origin(db_session, project_with_origins):
    project, _admin, _job = project_with_origins
    f, kept = item_filter(project.id, {"origin": "imported", "kind": "task"})
    assert (f.origin, kept["origin"]) == ("imported", "imported")
    assert filter_of(project.id, stored_filter(f)).origin == "imported"
    rows, _cursor = repository.page(db_session, f)
    assert sorted(row.instruction for row in rows) == ["Imported first.", "Imported third."]
    unknown, kept = item_filter(project.id, {"origin": "copied"})
    assert unknown.origin is None and "origin" not in kept


def test_pages_show_how_an_item_was_made_and_the_list_filters_by_it(
    db_session, client, project_with_origins
):
    project, admin, _job = project_with_origins
    login(client, admin.email)
    page = client.get(f"/projects/{project.id}/items", params={"origin": "imported"})
    assert page.status_code == 200
    assert "Imported first." in page.text and "Written by hand." not in page.text
    assert '<option value="imported" selected' in page.text
    imported = db_session.scalar(select(Item).where(Item.instruction == "Imported third."))
    editor = client.get(f"/items/{imported.id}/edit")
    assert "Imported from rows.jsonl, line 3" in editor.text
    demo = db_session.scalar(select(Item).where(Item.origin == "demo"))
    assert "Demo item" in client.get(f"/items/{demo.id}/edit").text
    assert client.get(f"/projects/{project.id}/items", params={"origin": "x"}).status_code == 422
