"""An import's follow-up pass and search: items are found once the pass has indexed them; an
item saved before the pass got there is indexed in full by its save and left out by the pass;
and a search says while a pass is still running."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Item
from tests.factories import make_user
from tests.helpers import login
from tests.import_factories import alpaca_lines, import_file
from tests.review_factories import make_project


@pytest.fixture
def setup(db_session):
    admin = make_user(db_session, role="admin")
    return make_project(db_session, admin, name="Indexed imports"), admin


def test_an_item_saved_before_the_pass_keeps_every_term_and_the_pass_leaves_it(
    db_session, tmp_path, setup
):
    """The pass indexes only items without near-duplicate keys: an imported item edited before
    it got there was indexed in full by its save (not just the words that changed)."""
    from app.imports import indexer
    from app.items import service as items_service
    from app.items.repository import ItemFilter, page
    from app.items.schemas import ItemDraft

    project, admin = setup
    job = import_file(
        db_session, tmp_path, project, admin, "n.jsonl", "\n".join(alpaca_lines(5)).encode()
    )
    first = db_session.scalar(
        select(Item).where(Item.project_id == project.id, Item.instruction == "Say the number 1.")
    )
    items_service.update_item(
        session=db_session,
        item_id=first.id,
        draft=ItemDraft(kind="task", instruction="Say the number 1.", output="One, spelled out."),
        expected_version=1,
        editor=admin,
    )

    def found(q: str) -> list[int]:
        return [i.id for i in page(db_session, ItemFilter(project_id=project.id, q=q))[0]]

    assert found("number 1") == [first.id]  # its unchanged words were indexed by the save
    assert found("spelled") == [first.id]
    assert found("number 2") == []  # the others wait for the pass
    assert indexer.index_imported(session=db_session, job=job) == 5  # no term written twice
    assert sorted(found("say number")) == sorted(
        db_session.scalars(select(Item.id).where(Item.project_id == project.id))
    )


def test_a_search_while_an_import_is_indexed_says_so(client, db_session, setup):
    from app.models import BackgroundTask, ImportJob
    from tests.factories import make_token

    project, admin = setup
    task = BackgroundTask(kind="import", project_id=project.id, state="running", attempts=1)
    db_session.add(task)
    db_session.flush()
    db_session.add(
        ImportJob(
            project_id=project.id,
            filename="n.jsonl",
            path="/nonexistent",
            file_hash="0" * 64,
            size=1,
            container="jsonl",
            schema="alpaca",
            state="done",  # its rows are in; the pass runs
            task_id=task.id,
        )
    )
    db_session.flush()
    login(client, admin.email)
    assert 'id="search-pending"' in client.get(f"/projects/{project.id}/items?q=number").text
    assert 'id="search-pending"' not in client.get(f"/projects/{project.id}/items").text
    headers = {"Authorization": f"Bearer {make_token(db_session, scope='user', owner=admin)}"}
    api = f"/api/v1/projects/{project.id}/items"
    assert client.get(f"{api}?q=number", headers=headers).json()["search_pending"] is True
    task.state = "done"
    db_session.flush()
    assert client.get(f"{api}?q=number", headers=headers).json()["search_pending"] is False
