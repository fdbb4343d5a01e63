"""In the browser: a reviewer clears a queue with the keyboard alone."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import Item, Review, User
from tests.browser.conftest import sign_in
from tests.browser.test_annotation_keys import PASSWORD, _project, _user

pytestmark = pytest.mark.browser


def test_reviewer_clears_the_queue_with_keys(page, live, db):
    server, _ = live
    project, admin = _project(db, "Browser review")
    writer = db.scalar(select(User).where(User.email == _user(server, "annotator")))
    created = []
    for text in (
        "Name three primary colours.",
        "把“你好”翻译成英文。",
        "Explain recursion briefly.",
    ):
        created.append(
            items.create_item(
                session=db,
                project=project,
                author=writer,
                submit=True,
                draft=ItemDraft(kind="task", instruction=text, output="An answer."),
            ).id
        )
    db.commit()
    sign_in(page, _user(server, "reviewer"), PASSWORD)
    page.goto(f"/projects/{project.id}/review")
    page.keyboard.press("j")  # start
    page.wait_for_url(f"**/items/{created[0]}/review")
    page.keyboard.press("a")  # approve → the next item opens
    page.wait_for_url(f"**/items/{created[1]}/review")
    page.keyboard.press("r")  # reject, then 4 picks "duplicate"
    page.keyboard.press("4")
    page.wait_for_url(f"**/items/{created[2]}/review")
    page.keyboard.press("c")  # request changes, then 3 picks "unclear instruction"
    page.keyboard.press("3")
    page.locator("#queue-done").wait_for()
    db.rollback()
    statuses = {i.id: i.status for i in db.scalars(select(Item).where(Item.id.in_(created)))}
    assert statuses == {
        created[0]: "approved",
        created[1]: "rejected",
        created[2]: "changes_requested",
    }
    reasons = dict(
        db.execute(select(Review.item_id, Review.reason).where(Review.item_id.in_(created))).all()
    )
    assert reasons == {created[0]: None, created[1]: "duplicate", created[2]: "unclear_instruction"}
