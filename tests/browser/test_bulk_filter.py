"""In the browser: an annotator filters the item list, applies a tag to every matching item
(the confirmation page counts them), follows the background task's progress page back to the
filtered list with the outcome; a manager retries a failed bulk task from its page, which goes
again.

The people and items are set up through the services; what the journey is about happens in
Chromium."""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.db import begin_for_write
from app.items import bulk_task
from app.items import service as items
from app.items.repository import ItemFilter
from app.items.schemas import ItemDraft
from app.models import BackgroundTask, Item, User
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.browser.conftest import ADMIN_PASSWORD, sign_in
from tests.factories import PASSWORD, join, make_user

pytestmark = pytest.mark.browser
_seq = itertools.count(1)
MATH = 12


def _setup(db):
    """A project with MATH drafts in the math domain and two in art, by one annotator."""
    db.commit()
    begin_for_write(db)  # the live server may be writing too
    n = next(_seq)
    admin = db.scalar(select(User).where(User.email == "admin@example.org"))
    project = projects.create_project(
        session=db, actor=admin, data=ProjectInput(name=f"Bulk filter {n}")
    )
    annotator = make_user(db, email=f"bulk-annotator{n}@example.org")
    join(db, project, annotator)
    for i in range(MATH + 2):
        domain = "math" if i < MATH else "art"
        draft = ItemDraft(kind="task", instruction=f"Sum {i} and {i}.", output="", domain=domain)
        items.create_item(session=db, project=project, author=annotator, draft=draft)
    db.commit()
    return project, annotator, admin


def test_tag_every_matching_item_then_retry_a_failed_task(page, new_page, db):
    project, annotator, admin = _setup(db)
    sign_in(page, annotator.email, PASSWORD)
    page.goto(f"/projects/{project.id}/items")
    page.select_option("#fd", "math")
    expect(page.locator("#bulk-all .num")).to_have_text(str(MATH))
    page.click("#bulk-all")
    page.wait_for_url(re.compile(r"/items/bulk/all\?"))
    expect(page.locator("#bulk-all-count")).to_have_text(f"{MATH} items match these filters.")
    page.check("#bulk-all-tag-action")
    page.fill("#bulk-all-tag", "checked")
    page.press("#bulk-all-tag", "Enter")  # the keyboard sends the form, as the button does
    # The task's page follows the task, then leads back to the filtered list with the outcome.
    page.wait_for_url(re.compile(rf"/projects/{project.id}/items\?domain=math$"))
    expect(page.locator("#toasts")).to_contain_text(f"{MATH} of {MATH} items changed.")
    db.expire_all()
    tags = db.scalars(select(Item.tags).where(Item.project_id == project.id)).all()
    assert sorted(tags, key=len) == [[], []] + [["checked"]] * MATH

    # A manager retries a bulk task that failed (its process died once too often).
    db.commit()
    begin_for_write(db)
    first = bulk_task.start(
        session=db,
        project=project,
        f=ItemFilter(project_id=project.id, domain="art"),
        action="tag",
        tag="seen",
        actor=admin,
    )
    first.state, first.error, first.attempts = "failed", "The task stopped: disk full", 3
    db.commit()
    manager = new_page()
    sign_in(manager, "admin@example.org", ADMIN_PASSWORD)
    manager.goto(f"/tasks/{first.id}")
    expect(manager.locator(".task-failed")).to_contain_text("disk full")
    manager.click(f"#task-retry-{first.id}")
    manager.wait_for_url(re.compile(rf"/projects/{project.id}/items\?domain=art$"))
    expect(manager.locator("#toasts")).to_contain_text("2 of 2 items changed.")
    db.expire_all()
    task = db.get(BackgroundTask, first.id)
    assert (task.state, task.attempts) == ("done", 1)
