"""Labeling: overlap (k labels per item), blind mode, authors skip their own items,
and the agreement page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.assignments import service as assignments
from app.errors import Conflict
from app.items import service as items
from app.items.schemas import ItemDraft, LabelIn
from app.labeling import service as labeling
from app.models import Label
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import join, make_user
from tests.helpers import login


def _project(session, admin, *, overlap=2, blind=False):
    return projects.create_project(
        session=session,
        actor=admin,
        data=ProjectInput(
            name=f"Labels {overlap} {blind}", labeling_overlap=overlap, blind_mode=blind
        ),
    )


def _member(session, project, **kw):
    """A new user who is a member of ``project``."""
    person = make_user(session, **kw)
    join(session, project, person)
    return person


def _item(session, project, author, text="Translate to French: good morning"):
    """A submitted item: someone else's draft is private to its author in these projects."""
    return items.create_item(
        session=session,
        project=project,
        author=author,
        submit=True,
        draft=ItemDraft(kind="task", instruction=text, output="Bonjour"),
    )


def _label(quality=4, difficulty=2, kind="task"):
    return LabelIn(kind=kind, difficulty=difficulty, quality=quality)


class TestQueue:
    def test_overlap_gives_each_item_k_labels_then_stops(self, db_session, admin_user):
        project = _project(db_session, admin_user, overlap=2)
        item = _item(db_session, project, admin_user)
        a, b, c = (_member(db_session, project) for _ in range(3))
        for annotator in (a, b):
            assert (
                labeling.next_item(session=db_session, project=project, annotator=annotator).id
                == item.id
            )
            labeling.submit_label(
                session=db_session, project=project, item=item, annotator=annotator, data=_label()
            )
        assert labeling.next_item(session=db_session, project=project, annotator=a) is None
        assert labeling.next_item(session=db_session, project=project, annotator=c) is None
        count = db_session.scalar(
            select(func.count()).select_from(Label).where(Label.item_id == item.id)
        )
        assert count == 2

    def test_items_closest_to_complete_come_first_and_authors_skip_their_own(
        self, db_session, admin_user
    ):
        project = _project(db_session, admin_user, overlap=2)
        writer = _member(db_session, project)
        first = _item(db_session, project, admin_user, "First item text")
        second = _item(db_session, project, admin_user, "Second item text")
        own = _item(db_session, project, writer, "Written by the annotator")
        a = _member(db_session, project)
        labeling.submit_label(
            session=db_session, project=project, item=second, annotator=a, data=_label()
        )
        nxt = labeling.next_item(session=db_session, project=project, annotator=writer)
        assert nxt.id == second.id  # one label already: finish it first
        seen = set()
        while (
            nxt := labeling.next_item(session=db_session, project=project, annotator=writer)
        ) is not None:
            seen.add(nxt.id)
            labeling.submit_label(
                session=db_session, project=project, item=nxt, annotator=writer, data=_label()
            )
        assert seen == {first.id, second.id}
        assert own.id not in seen

    def test_relabeling_updates_the_same_row(self, db_session, admin_user):
        project = _project(db_session, admin_user, overlap=1)
        item = _item(db_session, project, admin_user)
        a = _member(db_session, project)
        labeling.submit_label(
            session=db_session, project=project, item=item, annotator=a, data=_label(quality=2)
        )
        labeling.submit_label(
            session=db_session, project=project, item=item, annotator=a, data=_label(quality=5)
        )
        rows = db_session.scalars(select(Label).where(Label.item_id == item.id)).all()
        assert [r.quality for r in rows] == [5]


class TestBlindMode:
    def test_others_labels_hidden_until_you_label(self, client, db_session, admin_user):
        project = _project(db_session, admin_user, overlap=3, blind=True)
        item = _item(db_session, project, admin_user)
        first = _member(db_session, project)
        labeling.submit_label(
            session=db_session, project=project, item=item, annotator=first, data=_label(quality=1)
        )
        second = _member(db_session, project)
        login(client, second.email)
        page = client.get(f"/projects/{project.id}/label")
        assert page.status_code == 200
        assert f"Item #{item.id}" in page.text
        assert 'id="other-labels"' not in page.text
        assert 'id="blind-note"' in page.text
        visible = labeling.visible_labels(
            session=db_session, project=project, item=item, viewer=second
        )
        assert visible == []
        labeling.submit_label(
            session=db_session, project=project, item=item, annotator=second, data=_label()
        )
        visible = labeling.visible_labels(
            session=db_session, project=project, item=item, viewer=second
        )
        assert len(visible) == 2

    def test_without_blind_mode_labels_are_shown(self, client, db_session, admin_user):
        project = _project(db_session, admin_user, overlap=3, blind=False)
        _item(db_session, project, admin_user)
        item = _item(db_session, project, admin_user, "Another")
        first = _member(db_session, project)
        labeling.submit_label(
            session=db_session, project=project, item=item, annotator=first, data=_label()
        )
        second = _member(db_session, project)
        login(client, second.email)
        page = client.get(f"/projects/{project.id}/label")
        assert 'id="other-labels"' in page.text


class TestFreezing:
    def _second_label_over_http(self, client, db_session, admin_user, *, blind):
        project = _project(db_session, admin_user, overlap=3, blind=blind)
        item = _item(db_session, project, admin_user)
        labeling.submit_label(
            session=db_session,
            project=project,
            item=item,
            annotator=_member(db_session, project),
            data=_label(quality=1),
        )
        second = _member(db_session, project)
        csrf = login(client, second.email)
        url = f"/projects/{project.id}/label/{item.id}"
        form = {"csrf_token": csrf, "kind": "task", "difficulty": "2"}
        assert client.post(url, data={**form, "quality": "4"}).status_code == 303
        return url, form, second, item

    def _own(self, db_session, item, annotator):
        return db_session.scalar(
            select(Label).where(Label.item_id == item.id, Label.annotator_id == annotator.id)
        )

    def test_a_label_not_yet_revealed_can_still_be_corrected(self, client, db_session, admin_user):
        url, form, second, item = self._second_label_over_http(
            client, db_session, admin_user, blind=True
        )
        assert client.post(url, data={**form, "quality": "3"}).status_code == 303
        own = self._own(db_session, item, second)
        assert own.quality == 3 and own.revealed_at is None

    def test_without_blind_mode_nothing_is_frozen(self, client, db_session, admin_user):
        url, form, second, item = self._second_label_over_http(
            client, db_session, admin_user, blind=False
        )
        assert 'id="other-labels"' in client.post(url, data=form).text  # quality missing
        assert client.post(url, data={**form, "quality": "2"}).status_code == 303
        own = self._own(db_session, item, second)
        assert own.quality == 2 and own.revealed_at is None

    def test_the_frozen_label_is_refused_in_the_service_too(self, db_session, admin_user):
        project = _project(db_session, admin_user, overlap=3, blind=True)
        item = _item(db_session, project, admin_user)
        a, b = _member(db_session, project), _member(db_session, project)
        for annotator in (a, b):
            labeling.submit_label(
                session=db_session, project=project, item=item, annotator=annotator, data=_label()
            )
        others = labeling.others_for(session=db_session, project=project, item=item, viewer=b)
        assert [label.annotator_id for label in others] == [a.id]
        with pytest.raises(Conflict):
            labeling.submit_label(
                session=db_session,
                project=project,
                item=item,
                annotator=b,
                data=_label(quality=1),
            )

    def test_an_item_is_labeled_only_under_its_own_project(self, client, db_session, admin_user):
        project = _project(db_session, admin_user, overlap=1)
        other = projects.create_project(
            session=db_session, actor=admin_user, data=ProjectInput(name="Elsewhere")
        )
        item = _item(db_session, project, admin_user)
        annotator = _member(db_session, project)
        join(db_session, other, annotator)  # a member of both: the item is still not other's
        csrf = login(client, annotator.email)
        response = client.post(
            f"/projects/{other.id}/label/{item.id}",
            data={"csrf_token": csrf, "kind": "task", "difficulty": "3", "quality": "4"},
        )
        assert response.status_code == 404
        assert db_session.scalar(select(func.count()).select_from(Label)) == 0


class TestLabelForm:
    def test_submit_over_http_and_move_on(self, client, db_session, admin_user):
        project = _project(db_session, admin_user, overlap=1)
        item = _item(db_session, project, admin_user)
        annotator = _member(db_session, project)
        csrf = login(client, annotator.email)
        response = client.post(
            f"/projects/{project.id}/label/{item.id}",
            data={
                "csrf_token": csrf,
                "kind": "task",
                "difficulty": "3",
                "quality": "4",
                "flags": ["unclear"],
            },
        )
        assert response.status_code == 303
        label = db_session.scalar(select(Label).where(Label.item_id == item.id))
        assert (label.difficulty, label.quality, label.flags) == (3, 4, ["unclear"])
        assert 'id="queue-empty"' in client.get(f"/projects/{project.id}/label").text

    def test_missing_choice_comes_back_inline(self, client, db_session, admin_user):
        project = _project(db_session, admin_user, overlap=1)
        item = _item(db_session, project, admin_user)
        annotator = _member(db_session, project)
        csrf = login(client, annotator.email)
        response = client.post(
            f"/projects/{project.id}/label/{item.id}",
            data={"csrf_token": csrf, "kind": "task", "difficulty": "3"},
        )
        assert response.status_code == 422
        assert "Choose a value." in response.text


class TestAgreementPage:
    def test_kappa_and_alpha_from_labels(self, db_session, admin_user):
        """Two annotators, four items: quality agrees on 3 of 4 → hand-checkable figures."""
        project = _project(db_session, admin_user, overlap=2)
        a, b = (
            _member(db_session, project, email="a@x.org"),
            _member(db_session, project, email="b@x.org"),
        )
        kinds_a = ["task", "task", "example", "example"]
        kinds_b = ["task", "task", "example", "task"]
        for index, (ka, kb) in enumerate(zip(kinds_a, kinds_b, strict=True)):
            item = _item(db_session, project, admin_user, f"Item number {index}")
            labeling.submit_label(
                session=db_session, project=project, item=item, annotator=a, data=_label(kind=ka)
            )
            labeling.submit_label(
                session=db_session, project=project, item=item, annotator=b, data=_label(kind=kb)
            )
        results, summary = labeling.project_agreement(session=db_session, project=project)
        assert summary == {"labels": 8, "annotators": 2, "items": 4}
        kind = next(r for r in results if r.field == "kind")
        # p_o = 3/4; A: task 2, example 2; B: task 3, example 1 → p_e = (2*3 + 2*1)/16 = 1/2
        # κ = (3/4 − 1/2) / (1 − 1/2) = 0.5
        assert abs(kind.pairs[0].kappa - 0.5) < 1e-9
        assert kind.pairs[0].n == 4
        # Nominal α with 8 pairable values: D_o = 2/8, D_e = 2·5·3/(8·7) → α = 1 − (1/4)/(15/28)
        assert abs(kind.alpha.alpha - (1 - (1 / 4) / (15 / 28))) < 1e-9

    def test_page_renders_for_reviewers_only(self, client, db_session, admin_user, reviewer_user):
        project = _project(db_session, admin_user, overlap=2)
        join(db_session, project, reviewer_user)
        login(client, reviewer_user.email)
        assert client.get(f"/projects/{project.id}/agreement").status_code == 200


def test_annotator_cannot_open_agreement(app, db_session, admin_user, annotator_user):
    project = _project(db_session, admin_user)
    join(db_session, project, annotator_user)
    with TestClient(app, follow_redirects=False) as client:
        login(client, annotator_user.email)
        assert client.get(f"/projects/{project.id}/agreement").status_code == 403


class TestPrivateDrafts:
    def _draft(self, db_session, project, author):
        return items.create_item(
            session=db_session,
            project=project,
            author=author,
            draft=ItemDraft(kind="task", instruction="A private thought", output="Mine."),
        )

    def test_someone_elses_private_draft_is_never_served(self, client, db_session, admin_user):
        project = _project(db_session, admin_user, overlap=1)
        self._draft(db_session, project, _member(db_session, project))
        annotator = _member(db_session, project)
        login(client, annotator.email)
        page = client.get(f"/projects/{project.id}/label")
        assert page.status_code == 200 and 'id="queue-empty"' in page.text
        assert "A private thought" not in page.text
        assert client.get(f"/api/v1/projects/{project.id}/labeling/next").json() is None

    def test_shared_or_handed_drafts_are_served(self, client, db_session, admin_user):
        project = _project(db_session, admin_user, overlap=1)
        draft = self._draft(db_session, project, _member(db_session, project))
        annotator = _member(db_session, project)
        login(client, annotator.email)
        assignments.assign(
            session=db_session,
            project_id=project.id,
            item_ids=[draft.id],
            task="label",
            user_ids=[annotator.id],
            due_date=None,
            actor=admin_user,
        )
        assert client.get(f"/api/v1/projects/{project.id}/labeling/next").json()["id"] == draft.id
        assignments.unassign(
            session=db_session,
            project_id=project.id,
            item_ids=[draft.id],
            task="label",
            actor=admin_user,
        )
        project.drafts_shared = True
        db_session.flush()
        assert client.get(f"/api/v1/projects/{project.id}/labeling/next").json()["id"] == draft.id
