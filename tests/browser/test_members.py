"""In the browser: a project's manager adds an annotator with a quota, hands them two items from
the item list, and the annotator finds them first on the home page and does them (Ctrl+Enter in
the editor); someone from another project sees nothing of it.

The people and items are set up through the services; what the journey is about happens in
Chromium.
"""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.db import begin_for_write
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import Assignment, AuditEvent, Item, ProjectMember, User
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, join, make_user

pytestmark = pytest.mark.browser
_seq = itertools.count(1)
DUE = "2031-03-14"
QUOTA = "5"


def _setup(db) -> dict:
    """Projects A and B (drafts private, the default); A's manager (a global annotator) with
    three drafts, an annotator who is in no project yet, and someone who is only in B."""
    db.commit()
    begin_for_write(db)  # the live server may be writing too (see test_annotation_keys)
    n = next(_seq)
    admin = db.scalar(select(User).where(User.email == "admin@example.org"))

    def project(name: str):
        return projects.create_project(session=db, actor=admin, data=ProjectInput(name=name))

    a, b = project(f"Members A {n}"), project(f"Members B {n}")
    manager = make_user(db, email=f"members-manager{n}@example.org")
    annotator = make_user(db, email=f"members-annotator{n}@example.org")
    outsider = make_user(db, email=f"members-outsider{n}@example.org")
    join(db, a, manager, role="manager")
    join(db, b, outsider)
    # Instructions waiting for an answer, as an import leaves them: the manager's drafts.
    drafts = [
        items.create_item(
            session=db,
            project=a,
            author=manager,
            submit=False,
            draft=ItemDraft(kind="task", instruction=text, output=""),
        ).id
        for text in (
            "Name three rivers in Africa.",
            "Explain what a leap year is.",
            "List the planets in order.",
        )
    ]
    db.commit()
    return {"a": a, "b": b, "manager": manager, "annotator": annotator,
            "outsider": outsider, "items": drafts}  # fmt: skip


def _manager_adds_the_annotator(page, s: dict) -> None:
    a, annotator = s["a"], s["annotator"]
    sign_in(page, s["manager"].email, PASSWORD)
    page.locator("header.topbar nav").get_by_role("link", name="Projects", exact=True).click()
    page.locator("a.link-card", has_text=a.name).click()
    page.wait_for_url(f"**/projects/{a.id}")
    page.locator(".page-head").get_by_role("link", name="Members", exact=True).click()
    page.wait_for_url(f"**/projects/{a.id}/members")
    table = page.locator("#members-table")
    expect(table.locator("tr[data-member]")).to_have_count(1)  # the manager alone

    form = page.locator("#add-member")
    person = form.locator("#add-user option", has_text=annotator.email)
    page.select_option("#add-user", person.get_attribute("value"))
    page.select_option("#add-role", "annotator")
    page.fill("#add-quota", QUOTA)
    form.get_by_role("button", name="Add to project").click()
    expect(page.locator("#toasts")).to_contain_text(f"{annotator.email} added to the project.")
    row = table.locator(f'tr[data-member="{annotator.email}"]')
    expect(row).to_be_visible()
    expect(row.locator("select[name=role]")).to_have_value("annotator")
    expect(row.locator("input[name=quota]")).to_have_value(QUOTA)
    meter = row.locator("meter.bar")
    expect(meter).to_have_attribute("max", QUOTA)
    expect(meter).to_have_attribute("value", "0")
    expect(row.locator(".bars .num")).to_have_text(f"0 / {QUOTA}")
    # No longer offered in the add form.
    expect(form.locator("#add-user option", has_text=annotator.email)).to_have_count(0)


def _manager_assigns_two_items(page, s: dict, task: str) -> list[int]:
    a, annotator = s["a"], s["annotator"]
    chosen = s["items"][:2]
    page.goto(f"/projects/{a.id}")
    page.locator(".page-head").get_by_role("link", name="Items", exact=True).click()
    page.wait_for_url(f"**/projects/{a.id}/items")
    for item_id in chosen:
        page.locator(f'#item-rows tr[data-item="{item_id}"] input[name=item_ids]').check()
    page.click("#assign-selected")
    page.wait_for_url(f"**/projects/{a.id}/assign")
    expect(page.locator("#assign-scope")).to_have_text("2 selected items")
    page.select_option("#assign-task", task)
    person = page.locator("#assign-users option", has_text=annotator.email)
    page.select_option("#assign-users", person.get_attribute("value"))
    page.fill("#assign-due", DUE)
    with page.expect_navigation():
        page.locator("#assign-form").get_by_role("button", name="Assign").click()
    assert page.url.endswith(f"/projects/{a.id}/assign"), page.url
    expect(page.locator("#toasts")).to_contain_text("2 of 2 items assigned.")
    rows = page.locator("#assignments-table tbody tr")
    expect(rows).to_have_count(2)
    for item_id in chosen:
        row = rows.filter(has=page.locator(f'a[href="/items/{item_id}/edit"]'))
        expect(row).to_contain_text(annotator.display_name)
        expect(row.locator("td").nth(1)).to_have_text(task.capitalize())
        expect(row.locator("td").nth(3)).to_have_text(DUE)
        expect(row.locator("td").nth(4)).to_have_text("open")
    progress = page.locator(f'#assign-progress tr[data-user="{annotator.email}"]')
    expect(progress.locator("td").nth(1)).to_have_text("0")
    expect(progress.locator("td").nth(2)).to_have_text("2")
    return chosen


def _annotator_does_the_work(page, s: dict, chosen: list[int]) -> None:
    """Home lists the two items first; each opens in the editor and goes in with Ctrl+Enter."""
    sign_in(page, s["annotator"].email, PASSWORD)
    page.goto("/")
    assigned = page.locator("#home-assigned")
    expect(assigned).to_be_visible()
    headings = page.locator("main h2.section")
    expect(headings.first).to_have_text("Assigned to you")
    rows = assigned.locator("tbody tr")
    expect(rows).to_have_count(2)
    for row, item_id in zip(rows.all(), chosen, strict=True):
        expect(row.locator("td").first).to_have_text(DUE)
        expect(row.get_by_role("link", name=re.compile(rf"^#{item_id} "))).to_be_visible()
        expect(row).to_contain_text(s["a"].name)
    quota = page.locator(f'#home-quotas .bar-row[data-project="{s["a"].id}"]')
    expect(quota.locator("meter.bar")).to_have_attribute("max", QUOTA)
    expect(quota).to_contain_text(f"0 of {QUOTA}")

    answers = ("The Nile, the Congo and the Niger.", "A year with 366 days: February has 29.")
    for item_id, answer in zip(chosen, answers, strict=True):
        page.goto("/")
        page.locator("#home-assigned").get_by_role(
            "link", name=re.compile(rf"^#{item_id} ")
        ).click()
        page.wait_for_url(f"**/items/{item_id}/edit")
        expect(page.locator(".error-page")).to_have_count(0)
        page.fill("#f-output", answer)
        page.locator("#f-output").press("Control+Enter")
        expect(page.locator("#toasts")).to_contain_text("Item submitted for review.")
        expect(page.locator("h1 .badge")).to_have_text("submitted")
    page.goto("/")
    expect(page.locator("#no-assigned")).to_be_visible()
    # The manager's third draft was not handed over: private, as if it were not there.
    response = page.goto(f"/items/{s['items'][2]}/edit")
    assert response is not None and response.status == 404


def test_manager_adds_an_annotator_hands_out_two_items_and_they_are_done(page, new_page, db):
    s = _setup(db)
    _manager_adds_the_annotator(page, s)
    chosen = _manager_assigns_two_items(page, s, "write")

    annotator = new_page()
    _annotator_does_the_work(annotator, s, chosen)

    # The manager's assign page now shows both done.
    page.reload()
    rows = page.locator("#assignments-table tbody tr")
    expect(rows.locator("td:nth-child(5)")).to_have_text(["done", "done"])
    progress = page.locator(f'#assign-progress tr[data-user="{s["annotator"].email}"]')
    expect(progress.locator("td").nth(1)).to_have_text("2")
    expect(progress.locator("td").nth(2)).to_have_text("0")

    db.rollback()
    member = db.scalar(
        select(ProjectMember).where(
            ProjectMember.project_id == s["a"].id, ProjectMember.user_id == s["annotator"].id
        )
    )
    assert (member.role, member.quota) == ("annotator", int(QUOTA))
    handed = db.execute(
        select(Assignment.item_id, Assignment.task, Assignment.due_date.is_not(None)).where(
            Assignment.user_id == s["annotator"].id
        )
    ).all()
    assert sorted(handed) == [(i, "write", True) for i in chosen]
    statuses = db.scalars(select(Item.status).where(Item.id.in_(chosen))).all()
    assert statuses == ["submitted", "submitted"]
    actions = db.scalars(
        select(AuditEvent.action).where(
            AuditEvent.actor_id == s["manager"].id,
            AuditEvent.action.in_(("member.added", "assignment.added")),
        )
    ).all()
    assert sorted(actions) == ["assignment.added", "assignment.added", "member.added"]


def test_someone_from_another_project_neither_sees_nor_opens_it(page, db):
    s = _setup(db)
    a, b = s["a"], s["b"]
    sign_in(page, s["outsider"].email, PASSWORD)
    page.locator("header.topbar nav").get_by_role("link", name="Projects", exact=True).click()
    page.wait_for_url("**/projects")
    cards = page.locator("main a.link-card")
    expect(cards.filter(has_text=b.name)).to_have_count(1)
    expect(cards.filter(has_text=a.name)).to_have_count(0)
    expect(page.locator("#home-projects")).to_have_count(0)

    for path in (f"/projects/{a.id}", f"/projects/{a.id}/items", f"/items/{s['items'][0]}/edit"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.locator(".error-page")).to_have_attribute("data-status", "404")
        expect(page.locator("main")).not_to_contain_text(a.name)
    page.goto("/")
    expect(page.locator("#home-projects")).not_to_contain_text(a.name)
    expect(page.locator("#home-projects")).to_contain_text(b.name)
