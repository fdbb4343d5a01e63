"""In the browser: the editor's live constraint check, Ctrl+S and Ctrl+Enter, and the
labeling queue's number keys."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from app.db import begin_for_write
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import Item, Label, User
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.browser.conftest import sign_in, studio_cli
from tests.factories import join

pytestmark = pytest.mark.browser
PASSWORD = "long-enough-1"
_seq = itertools.count()


def _user(server, role: str) -> str:
    email = f"{role}{next(_seq)}@example.org"
    studio_cli(server, "users", "create", "--email", email, "--role", role, "--password", PASSWORD)
    return email


def _member(server, db, project, role: str) -> str:
    """A new user of this role who is a member of ``project`` (in the matching project role);
    returns the email."""
    email = _user(server, role)
    db.commit()  # the user is new: read them in a fresh transaction, begun as a writer
    begin_for_write(db)
    join(db, project, db.scalar(select(User).where(User.email == email)))
    db.commit()
    return email


def _project(db, name: str, **kwargs):
    # Read-then-write in one transaction: begin it as a writer, or SQLite refuses the write when
    # the live server committed in between ("database is locked" at once, no busy wait).
    db.commit()
    begin_for_write(db)
    admin = db.scalar(select(User).where(User.email == "admin@example.org"))
    project = projects.create_project(
        session=db, actor=admin, data=ProjectInput(name=name, **kwargs)
    )
    db.commit()
    return project, admin


def test_editor_live_check_save_and_submit_with_keys(page, live, db):
    server, _ = live
    project, _admin = _project(db, "Browser editor")
    email = _member(server, db, project, "annotator")
    sign_in(page, email, PASSWORD)
    page.goto(f"/projects/{project.id}/items/new?kind=constraint")
    page.fill("#f-instruction", "Describe Paris in one sentence without commas.")
    page.fill("#f-output", "Paris is large, old and beautiful.")
    page.select_option("#add-constraint", "punctuation:no_comma")
    page.click("[data-add-constraint]")
    failing = page.locator('#verdicts li[data-constraint="punctuation:no_comma"]')
    failing.and_(page.locator('[data-state="fail"]')).wait_for()
    page.fill("#f-output", "Paris is large and old and beautiful.")
    page.locator('#verdicts li[data-state="pass"]').wait_for()

    page.locator("#f-output").press("Control+s")
    page.wait_for_url("**/items/*/edit")
    item_id = int(page.url.rstrip("/").split("/")[-2])
    db.rollback()  # end the read snapshot: see what the server committed
    saved = db.get(Item, item_id)
    assert saved.status == "draft"
    assert saved.constraints == [{"id": "punctuation:no_comma", "params": {}}]

    page.fill("#f-instruction", "Describe Paris in one short sentence without commas.")
    page.locator("#f-instruction").press("Control+Enter")
    page.locator(".badge", has_text="submitted").first.wait_for()
    db.rollback()
    db.refresh(saved)
    assert saved.status == "submitted"
    assert saved.version == 2
    assert "short sentence" in saved.instruction


def test_labeling_with_number_keys(page, live, db):
    server, _ = live
    project, admin = _project(db, "Browser labels", labeling_overlap=1)
    item = items.create_item(
        session=db,
        project=project,
        author=admin,
        submit=True,  # a draft is its author's alone
        draft=ItemDraft(
            kind="task", instruction="把这句话翻译成英文：早上好", output="Good morning"
        ),
    )
    db.commit()
    email = _member(server, db, project, "annotator")
    sign_in(page, email, PASSWORD)
    page.goto(f"/projects/{project.id}/label")
    page.get_by_text(f"Item #{item.id}").wait_for()
    page.locator("body").click()
    page.keyboard.press("4")
    page.keyboard.press("Shift+2")
    page.keyboard.press("x")
    assert page.locator('[data-quality="4"]').is_checked()
    assert page.locator('[data-difficulty="2"]').is_checked()
    assert page.locator('[data-key="x"]').is_checked()
    page.keyboard.press("Control+Enter")
    page.locator("#queue-empty").wait_for()
    db.rollback()
    label = db.scalar(select(Label).where(Label.item_id == item.id))
    assert (label.quality, label.difficulty, label.flags) == (4, 2, ["unclear"])
