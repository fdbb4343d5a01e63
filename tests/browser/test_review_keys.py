"""In the browser: a reviewer clears a queue of 20 items with the keyboard alone, and every
decision lands in the audit log."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from app.db import begin_for_write
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import AuditEvent, Item, Review, User
from tests.browser.conftest import sign_in
from tests.browser.test_annotation_keys import PASSWORD, _member, _project

pytestmark = pytest.mark.browser
QUEUE = 20


def test_reviewer_clears_the_queue_with_keys(page, live, db):
    server, _ = live
    project, admin = _project(db, "Browser review")
    writer_email = _member(server, db, project, "annotator")
    writer = db.scalar(select(User).where(User.email == writer_email))
    # Write as a writer from the start: the server may be writing too (SQLite refuses to
    # turn a stale read transaction into a write one).
    db.commit()
    begin_for_write(db)
    created = []
    for n in range(QUEUE):
        text = "把“你好”翻译成英文。" if n == 1 else f"Name {n + 2} primary colours, one a line."
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
    sign_in(page, _member(server, db, project, "reviewer"), PASSWORD)
    page.goto(f"/projects/{project.id}/review")

    def at(index: int) -> None:
        page.wait_for_url(f"**/items/{created[index]}/review")

    page.keyboard.press("?")  # the shortcuts
    page.locator("#help").get_by_text("Start with the next item").wait_for()
    page.keyboard.press("Escape")
    page.locator("#help").wait_for(state="hidden")
    page.keyboard.press("j")  # start
    at(0)
    page.keyboard.press("a")  # approve → the next item opens
    at(1)
    page.keyboard.press("r")  # reject, then 4 picks "duplicate"
    page.keyboard.press("4")
    at(2)
    page.keyboard.press("c")  # request changes, then 3 picks "unclear instruction"
    page.keyboard.press("3")
    at(3)
    page.keyboard.press("j")  # skip: the one after it opens
    at(4)
    for back in (2, 1, 0):  # k walks back through what I decided
        page.keyboard.press("k")
        at(back)
    page.keyboard.press("j")  # from a decided item, back to the queue: the skipped one
    at(3)
    for index in range(3, QUEUE):
        page.keyboard.press("a")
        if index + 1 < QUEUE:
            at(index + 1)
    page.locator("#queue-done").wait_for()
    page.goto(f"/items/{created[0]}/review")
    page.keyboard.press("e")  # edit
    page.wait_for_url(f"**/items/{created[0]}/edit")

    db.rollback()
    statuses = {i.id: i.status for i in db.scalars(select(Item).where(Item.id.in_(created)))}
    assert statuses == {
        item_id: {1: "rejected", 2: "changes_requested"}.get(n, "approved")
        for n, item_id in enumerate(created)
    }
    reasons = dict(
        db.execute(select(Review.item_id, Review.reason).where(Review.item_id.in_(created))).all()
    )
    assert reasons == {
        item_id: {1: "duplicate", 2: "unclear_instruction"}.get(n)
        for n, item_id in enumerate(created)
    }
    decisions = db.execute(
        select(AuditEvent.entity_id, AuditEvent.action).where(
            AuditEvent.action.like("review.%"),
            AuditEvent.entity_id.in_([str(i) for i in created]),
        )
    ).all()
    assert sorted(decisions) == sorted(
        (str(item_id), {1: "review.reject", 2: "review.request_changes"}.get(n, "review.approve"))
        for n, item_id in enumerate(created)
    )


def test_the_approve_key_sends_nothing_to_a_reviewer_who_may_not_approve(page, live, db):
    """A reviewer who changed the item since its last approval may reject it but not approve
    it: the page offers no approve button, and the `a` key must not send one either."""
    server, _ = live
    project, _admin = _project(db, "Browser review: own edit")
    emails = _member(server, db, project, "annotator"), _member(server, db, project, "reviewer")
    db.commit()  # the users may be new: read them in a fresh transaction
    begin_for_write(db)
    writer, reviewer = (db.scalar(select(User).where(User.email == e)) for e in emails)
    draft = ItemDraft(kind="task", instruction="Name three rivers.", output="Nile, Amazon, Po.")
    item = items.create_item(session=db, project=project, author=writer, submit=True, draft=draft)
    for editor, output in ((reviewer, "Nile, Amazon, Danube."), (writer, "Nile, Amazon, Rhine.")):
        item = items.update_item(
            session=db,
            item_id=item.id,
            draft=draft.model_copy(update={"output": output}),
            expected_version=item.version,
            editor=editor,
        )
    db.commit()
    sign_in(page, emails[1], PASSWORD)
    page.goto(f"/items/{item.id}/review")
    page.locator("#approve-refused").wait_for()
    sent = []  # the decisions the page posts
    page.on(
        "request",
        lambda r: (
            sent.append(parse_qs(r.post_data or "").get("decision")) if r.method == "POST" else None
        ),
    )
    page.keyboard.press("a")
    page.keyboard.press("r")  # reject is still allowed: 4 picks "duplicate" and sends it
    page.keyboard.press("4")
    page.wait_for_url(lambda url: f"/items/{item.id}/review" not in url)
    db.rollback()
    decisions = db.scalars(select(Review.decision).where(Review.item_id == item.id)).all()
    assert decisions == ["reject"]
    assert sent == [["reject"]]
