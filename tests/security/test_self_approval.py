"""Attacks on the review's two-person rule: a reviewer edits someone else's item (reviewers may
edit any item) and then approves their own words, alone or as one of two approvers."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.errors import Forbidden
from app.items import service as items
from app.models import Review
from app.reviews import service
from app.reviews.service import QueueFilter
from tests.factories import make_token, make_user
from tests.helpers import login
from tests.review_factories import DRAFT, make_item, make_project


def _edit(session, item, editor, draft=DRAFT):
    return items.update_item(
        session=session,
        item_id=item.id,
        draft=draft,
        expected_version=item.version,
        editor=editor,
    )


def _decide(session, item, reviewer, decision="approve"):
    return service.decide(
        session=session,
        item_id=item.id,
        reviewer=reviewer,
        decision=decision,
        version=item.version,
        reason=None if decision == "approve" else "other",
    )


def _reviews(session, item) -> int:
    return session.scalar(select(func.count()).select_from(Review).where(Review.item_id == item.id))


def test_a_reviewer_cannot_approve_their_own_edit(db_session, admin_user):
    author, editor = make_user(db_session), make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, members=[author, editor])
    item = make_item(db_session, project, author)
    item = _edit(db_session, item, editor, DRAFT.model_copy(update={"output": "Buy my course."}))
    with pytest.raises(Forbidden) as refused:
        _decide(db_session, item, editor)
    assert "another reviewer decides" in refused.value.text
    db_session.refresh(item)
    assert item.status == "submitted"
    assert _reviews(db_session, item) == 0


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_a_reviewer_decides_nothing_on_content_they_saved(db_session, admin_user, decision):
    author, editor = make_user(db_session), make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, members=[author, editor])
    item = make_item(db_session, project, author)
    item = _edit(db_session, item, editor)
    with pytest.raises(Forbidden):
        _decide(db_session, item, editor, decision)
    assert _reviews(db_session, item) == 0


def test_an_author_resave_does_not_launder_a_reviewers_edit(db_session, admin_user):
    """The reviewer edits, the author saves once more on top: the reviewer's words are still
    in the item, so the reviewer still may not approve it."""
    author, editor = make_user(db_session), make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, members=[author, editor])
    item = make_item(db_session, project, author)
    item = _edit(db_session, item, editor, DRAFT.model_copy(update={"output": "Buy my course."}))
    item = _edit(db_session, item, author, DRAFT.model_copy(update={"output": "Buy my course!"}))
    with pytest.raises(Forbidden) as refused:
        _decide(db_session, item, editor)
    assert "changed this item since it was last approved" in refused.value.text
    # Sending it back is still theirs to do: it approves nothing.
    _decide(db_session, item, editor, "request_changes")
    db_session.refresh(item)
    assert item.status == "changes_requested"


def test_under_two_approvals_neither_approver_may_have_edited(db_session, admin_user):
    author = make_user(db_session)
    editor, second, third = (make_user(db_session, role="reviewer") for _ in range(3))
    project = make_project(
        db_session, admin_user, approvals=2, members=[author, editor, second, third]
    )
    item = make_item(db_session, project, author)
    _decide(db_session, item, second)  # a first approval of the original text
    item = _edit(db_session, item, editor, DRAFT.model_copy(update={"output": "Buy my course."}))
    item = _edit(db_session, item, author)  # the author tidies up on top of the edit
    with pytest.raises(Forbidden):
        _decide(db_session, item, editor)
    _decide(db_session, item, second)
    db_session.refresh(item)
    assert item.status == "submitted"  # one approval of this version so far
    _decide(db_session, item, third)
    db_session.refresh(item)
    assert item.status == "approved"
    approvers = set(
        db_session.scalars(
            select(Review.reviewer_id).where(
                Review.item_id == item.id,
                Review.item_version == item.version - 1,
                Review.decision == "approve",
            )
        )
    )
    assert approvers == {second.id, third.id}


def test_a_first_approval_is_no_boundary_for_the_edits_before_it(db_session, admin_user):
    """Under two approvals, an edit that one reviewer approved is not approved yet: its
    writer still may not give the approvals of a later version."""
    author = make_user(db_session)
    editor, second = make_user(db_session, role="reviewer"), make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, approvals=2, members=[author, editor, second])
    item = make_item(db_session, project, author)
    item = _edit(db_session, item, editor, DRAFT.model_copy(update={"output": "Buy my course."}))
    _decide(db_session, item, second)  # one approval of two
    item = _edit(db_session, item, author)
    with pytest.raises(Forbidden):
        _decide(db_session, item, editor)


def test_self_approval_over_html_and_the_api(client, db_session, admin_user):
    author, editor = make_user(db_session), make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, members=[author, editor])
    item = make_item(db_session, project, author)
    item = _edit(db_session, item, editor)
    csrf = login(client, editor.email)
    page = client.get(f"/items/{item.id}/review")
    assert 'id="decision-refused"' in page.text
    assert 'data-set-decision="approve"' not in page.text
    refused = client.post(
        f"/items/{item.id}/review",
        data={"csrf_token": csrf, "decision": "approve", "version": item.version},
    )
    assert refused.status_code == 403
    assert "another reviewer decides" in refused.text
    token = make_token(db_session, scope="user", owner=editor)
    api = client.post(
        f"/api/v1/items/{item.id}/review",
        headers={"Authorization": f"Bearer {token}"},
        json={"decision": "approve", "version": item.version},
    )
    assert api.status_code == 403
    assert api.json()["error"] == "forbidden"
    db_session.refresh(item)
    assert item.status == "submitted"


def test_the_queue_does_not_serve_an_item_back_to_its_editor(db_session, admin_user):
    author, editor = make_user(db_session), make_user(db_session, role="reviewer")
    other = make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, members=[author, editor, other])
    item = _edit(db_session, make_item(db_session, project, author), editor)
    f = QueueFilter(project_id=project.id)
    assert service.claim_next(session=db_session, reviewer=editor, f=f) is None
    assert service.claim_next(session=db_session, reviewer=other, f=f).id == item.id
