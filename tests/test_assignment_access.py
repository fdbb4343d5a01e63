"""What an assignment opens: an annotator handed someone else's private draft to write or fix
finds it, opens it and saves it; without the assignment it stays missing. Nobody is asked to
review what they wrote."""

from __future__ import annotations

import pytest

from app.assignments import service as assignments
from app.errors import InvalidInput
from app.items import service as items
from app.items.schemas import ItemDraft
from app.members import service as members
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.editor_helpers import make_item
from tests.factories import join, make_user
from tests.helpers import login


@pytest.fixture
def handed(db_session, admin_user):
    """A project keeping drafts private, a draft by its author, and another annotator."""
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Private drafts"), actor=admin_user
    )
    author = make_user(db_session, email="writer@example.org")
    helper = make_user(db_session, email="helper@example.org")
    join(db_session, project, author, helper)
    draft = make_item(db_session, project, author, instruction="Half a thought", output="")
    return project, author, helper, draft


def _assign(db_session, admin_user, project, draft, helper, task="write"):
    assignments.assign(
        session=db_session,
        project_id=project.id,
        item_ids=[draft.id],
        task=task,
        user_ids=[helper.id],
        due_date=None,
        actor=admin_user,
    )


def test_a_private_draft_is_missing_until_it_is_handed_over(client, db_session, admin_user, handed):
    project, _, helper, draft = handed
    login(client, helper.email)
    assert client.get(f"/items/{draft.id}/edit").status_code == 404
    listed = client.get(f"/api/v1/projects/{project.id}/items").json()["items"]
    assert draft.id not in [i["id"] for i in listed]

    _assign(db_session, admin_user, project, draft, helper)

    assert client.get(f"/items/{draft.id}/edit").status_code == 200
    listed = client.get(f"/api/v1/projects/{project.id}/items").json()["items"]
    assert draft.id in [i["id"] for i in listed]


@pytest.mark.parametrize("task", ["write", "fix"])
def test_the_assignee_saves_the_item(client, db_session, admin_user, handed, task):
    project, _, helper, draft = handed
    _assign(db_session, admin_user, project, draft, helper, task=task)
    csrf = login(client, helper.email)
    saved = client.put(
        f"/api/v1/items/{draft.id}",
        headers={"X-CSRF-Token": csrf},
        json={
            "kind": "task",
            "instruction": "Half a thought, finished.",
            "output": "Done.",
            "version": draft.version,
        },
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["output"] == "Done."


def test_a_label_assignment_opens_nothing_to_edit(client, db_session, admin_user, handed):
    project, _, helper, draft = handed
    _assign(db_session, admin_user, project, draft, helper, task="label")
    csrf = login(client, helper.email)
    refused = client.put(
        f"/api/v1/items/{draft.id}",
        headers={"X-CSRF-Token": csrf},
        json={"kind": "task", "instruction": "Mine now.", "output": "", "version": draft.version},
    )
    assert refused.status_code == 403


def test_nobody_is_asked_to_review_what_they_wrote(db_session, admin_user, handed):
    project, author, _, draft = handed
    join(db_session, project, make_user(db_session, role="reviewer"))
    author_member = assignments.user_ids_for(session=db_session, emails=[author.email])
    members.change_member(
        session=db_session,
        project_id=project.id,
        user_id=author.id,
        role="reviewer",
        quota=None,
        expected_version=None,
        actor=admin_user,
    )
    with pytest.raises(InvalidInput, match="writer@example.org wrote item"):
        assignments.assign(
            session=db_session,
            project_id=project.id,
            item_ids=[draft.id],
            task="review",
            user_ids=author_member,
            due_date=None,
            actor=admin_user,
        )


def test_the_status_counts_count_only_the_drafts_the_reader_sees(
    client, db_session, admin_user, handed
):
    project, author, helper, draft = handed
    make_item(db_session, project, helper, instruction="My own draft", output="")
    items.create_item(
        session=db_session,
        project=project,
        author=author,
        submit=True,
        draft=ItemDraft(kind="task", instruction="Submitted for all", output="Yes."),
    )
    login(client, helper.email)
    counts = client.get(f"/api/v1/projects/{project.id}/items").json()["counts"]
    assert counts == {"draft": 1, "submitted": 1}
    _assign(db_session, admin_user, project, draft, helper)
    counts = client.get(f"/api/v1/projects/{project.id}/items").json()["counts"]
    assert counts == {"draft": 2, "submitted": 1}
    by_status = client.get(f"/api/v1/projects/{project.id}/items", params={"status": "submitted"})
    assert [i["instruction"] for i in by_status.json()["items"]] == ["Submitted for all"]
