"""Attacks on blind labeling: reading the other annotators' labels before labeling, by sending
the label form under another (open) project's id, and changing one's labels after the others
were shown."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.items import service as items
from app.items.schemas import ItemDraft, LabelIn
from app.labeling import service as labeling
from app.models import Label, Project
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import join, make_token, make_user
from tests.helpers import login

SECRET_DOMAIN = "first-annotators-secret-domain"


def _project(session, admin, *, blind: bool, name: str):
    return projects.create_project(
        session=session,
        actor=admin,
        data=ProjectInput(name=name, labeling_overlap=3, blind_mode=blind),
    )


@pytest.fixture
def blind_item(db_session, admin_user):
    """An item in a blind project that one annotator has labeled already."""
    project = _project(db_session, admin_user, blind=True, name="Blind")
    item = items.create_item(
        session=db_session,
        project=project,
        author=admin_user,
        submit=True,
        draft=ItemDraft(kind="task", instruction="Translate to French: good night", output="x"),
    )
    first = make_user(db_session)
    join(db_session, project, first)
    labeling.submit_label(
        session=db_session,
        project=project,
        item=item,
        annotator=first,
        data=LabelIn(kind="example", domain=SECRET_DOMAIN, difficulty=5, quality=1),
    )
    return item


def _form(csrf, **values):
    return {"csrf_token": csrf, "kind": "task", "difficulty": "2", "quality": "4", **values}


@pytest.mark.parametrize("form", ["incomplete", "complete"])
def test_another_projects_id_does_not_reveal_blind_labels(
    client, db_session, admin_user, blind_item, form
):
    open_project = _project(db_session, admin_user, blind=False, name="Open")
    # The attacker annotates in both projects: only the item's own project may reveal its labels.
    attacker = make_user(db_session)
    join(db_session, open_project, attacker)
    join(db_session, db_session.get(Project, blind_item.project_id), attacker)
    csrf = login(client, attacker.email)
    data = _form(csrf, quality="") if form == "incomplete" else _form(csrf)
    page = client.post(f"/projects/{open_project.id}/label/{blind_item.id}", data=data)
    assert SECRET_DOMAIN not in page.text
    assert 'id="other-labels"' not in page.text
    assert page.status_code == 404
    assert db_session.scalar(select(Label).where(Label.domain.is_(None))) is None


def test_a_label_is_frozen_once_the_others_are_shown(client, db_session, blind_item):
    second = make_user(db_session)
    join(db_session, db_session.get(Project, blind_item.project_id), second)
    csrf = login(client, second.email)
    url = f"/projects/{blind_item.project_id}/label/{blind_item.id}"
    assert client.post(url, data=_form(csrf, quality="4")).status_code == 303
    # An incomplete form comes back with the others' labels: they are now seen.
    shown = client.post(url, data=_form(csrf, quality=""))
    assert shown.status_code == 422
    assert SECRET_DOMAIN in shown.text
    own = db_session.scalar(
        select(Label).where(Label.item_id == blind_item.id, Label.annotator_id == second.id)
    )
    assert own.revealed_at is not None
    # Copying the first annotator's answer afterwards is refused, over HTML and the API.
    copied = client.post(url, data=_form(csrf, kind="example", difficulty="5", quality="1"))
    assert copied.status_code == 409
    assert "you have seen the other annotators' labels" in copied.text
    token = make_token(db_session, scope="user", owner=second)
    api = client.post(
        f"/api/v1/items/{blind_item.id}/labels",
        headers={"Authorization": f"Bearer {token}"},
        json={"kind": "example", "domain": SECRET_DOMAIN, "difficulty": 5, "quality": 1},
    )
    assert api.status_code == 409
    assert api.json()["error"] == "conflict"
    db_session.refresh(own)
    assert (own.kind, own.domain, own.difficulty, own.quality) == ("task", None, 2, 4)
