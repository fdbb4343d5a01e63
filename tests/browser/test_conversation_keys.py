"""In the browser, keyboard only: an annotator writes a conversation of two exchanges (adding,
moving and removing turns with the Alt keys), submits it, and a reviewer reads every turn on
the review screen and approves it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.models import Item
from tests.browser.conftest import sign_in
from tests.browser.test_annotation_keys import PASSWORD, _member, _project

pytestmark = pytest.mark.browser

TURNS = [
    ("user", "What is a prime number?"),
    ("assistant", "A whole number above 1 that only 1 and itself divide."),
    ("user", "那 9 是质数吗？"),
    ("assistant", "不是：9 = 3 × 3。"),
]


def _tab_to(page, selector: str, presses: int = 60) -> None:
    """Press Tab until ``selector`` has the focus: no click anywhere."""
    for _ in range(presses):
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"Tab never reached {selector}")


def _turn_texts(page) -> list[tuple[str, str]]:
    return page.locator("#turn-rows [data-turn]").evaluate_all(
        "turns => turns.map(t => [t.dataset.role, t.querySelector('textarea').value])"
    )


def test_write_a_conversation_by_keyboard_then_review_it(page, new_page, live, db):
    server, _ = live
    project, _admin = _project(db, "Browser conversation")
    sign_in(page, _member(server, db, project, "annotator"), PASSWORD)
    page.goto(f"/projects/{project.id}/items/new?kind=conversation")
    expect(page.locator("#turn-rows [data-turn]")).to_have_count(2)

    _tab_to(page, "#turn-0")
    page.keyboard.type(TURNS[0][1])
    page.keyboard.press("Tab")  # straight to the reply: the tools sit before a user turn
    expect(page.locator("#turn-1")).to_be_focused()
    page.keyboard.type(TURNS[1][1])
    page.keyboard.press("Alt+Enter")  # a new exchange after this one, its user turn focused
    expect(page.locator("#turn-rows [data-turn]")).to_have_count(4)
    expect(page.locator("#turn-2")).to_be_focused()
    page.keyboard.insert_text(TURNS[2][1])  # as an input method commits Chinese text
    page.keyboard.press("Tab")
    page.keyboard.insert_text(TURNS[3][1])
    assert _turn_texts(page) == [list(turn) for turn in TURNS]

    # An exchange moves as a whole and keeps the focus; the numbers follow.
    page.keyboard.press("Alt+ArrowUp")
    expect(page.locator("#turn-1")).to_be_focused()
    assert _turn_texts(page) == [list(turn) for turn in TURNS[2:] + TURNS[:2]]
    expect(page.locator("#turn-rows [data-turn]").first.locator("label")).to_contain_text("Turn 1")
    page.keyboard.press("Alt+ArrowDown")
    assert _turn_texts(page) == [list(turn) for turn in TURNS]

    # A third exchange, added then removed again.
    page.keyboard.press("Alt+Enter")
    expect(page.locator("#turn-rows [data-turn]")).to_have_count(6)
    page.keyboard.type("A question to drop.")
    page.keyboard.press("Alt+Shift+Backspace")
    expect(page.locator("#turn-rows [data-turn]")).to_have_count(4)
    assert _turn_texts(page) == [list(turn) for turn in TURNS]

    # The live checks count each turn and the whole, and preview the conversation.
    expect(page.locator("#counts tr[data-turn]")).to_have_count(4)
    expect(page.locator("#counts tr[data-total]")).to_have_count(1)
    expect(page.locator("#preview .msg")).to_have_count(4)

    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(r"/items/\d+/edit$"))
    item_id = int(page.url.rsplit("/", 2)[-2])
    expect(page.locator("h1 .badge")).to_have_text("submitted")
    db.rollback()  # see what the server committed
    item = db.get(Item, item_id)
    assert [(t["role"], t["content"]) for t in item.turns] == TURNS
    assert (item.kind, item.status) == ("conversation", "submitted")

    reviewer = new_page()
    sign_in(reviewer, _member(server, db, project, "reviewer"), PASSWORD)
    reviewer.goto(f"/projects/{project.id}/review")
    reviewer.keyboard.press("j")
    reviewer.wait_for_url(f"**/items/{item_id}/review")
    shown = reviewer.locator("#item-content .msg")
    expect(shown).to_have_count(4)
    for index, (role, text) in enumerate(TURNS):
        expect(shown.nth(index)).to_have_attribute("data-role", role)
        expect(shown.nth(index).locator("pre")).to_have_text(text)
        expect(shown.nth(index).locator(".role")).to_contain_text(f"Turn {index + 1}")
    reviewer.keyboard.press("a")
    reviewer.locator("#queue-done").wait_for()
    db.rollback()
    assert db.scalar(select(Item.status).where(Item.id == item_id)) == "approved"
