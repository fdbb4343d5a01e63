"""In the browser: an annotator writes a preference pair whose prompt is a conversation's earlier
turns, with a constraint; both responses' verdicts follow the typing, Alt+X swaps a pair entered
the wrong way round, Ctrl+S saves and Ctrl+Enter submits. The two response boxes sit side by
side on a wide screen and stack on a narrow one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models import Item
from tests.browser.conftest import sign_in
from tests.browser.test_annotation_keys import PASSWORD, _member, _project

pytestmark = pytest.mark.browser

TURNS = [
    ("user", "I am going to Paris."),
    ("assistant", "Lovely! What would you like to know?"),
    ("user", "什么时候去最好？"),
]
LOWER = "spring or early autumn: mild weather and fewer crowds."
SHOUTED = "GO WHENEVER YOU LIKE."


def _state(page, side: str):
    return page.locator(f'#verdicts-{side} li[data-constraint="change_case:english_lowercase"]')


def _turns(page) -> list[list[str]]:
    return page.locator("#turn-rows [data-turn]").evaluate_all(
        "turns => turns.map(t => [t.dataset.role, t.querySelector('textarea').value])"
    )


def test_write_a_pair_with_a_constraint_swap_save_and_submit(page, live, db):
    server, _ = live
    project, _admin = _project(db, "Browser pairs")
    sign_in(page, _member(server, db, project, "annotator"), PASSWORD)
    page.goto(f"/projects/{project.id}/items/new?kind=preference")

    # The prompt form switch shows one form's fields at a time.
    expect(page.locator("#f-instruction")).to_be_visible()
    expect(page.locator("#turn-0")).to_be_hidden()
    page.check('input[name="prompt_form"][value="turns"]')
    expect(page.locator("#f-instruction")).to_be_hidden()
    expect(page.locator("#turn-0")).to_be_visible()
    expect(page.locator("#turn-rows [data-turn]")).to_have_count(1)

    # The earlier turns: Alt+Enter adds a reply and the user's next turn, the reply focused.
    page.locator("#turn-0").fill(TURNS[0][1])
    page.locator("#turn-0").press("Alt+Enter")
    expect(page.locator("#turn-rows [data-turn]")).to_have_count(3)
    expect(page.locator("#turn-1")).to_be_focused()
    page.keyboard.type(TURNS[1][1])
    page.keyboard.press("Tab")
    expect(page.locator("#turn-2")).to_be_focused()
    page.keyboard.insert_text(TURNS[2][1])  # as an input method commits Chinese text
    assert _turns(page) == [list(turn) for turn in TURNS]
    page.keyboard.press("Alt+ArrowUp")  # the first user turn stays first
    assert _turns(page) == [list(turn) for turn in TURNS]

    # Entered the wrong way round: the shouted answer as the chosen one.
    page.fill("#f-output", SHOUTED)
    page.fill("#f-rejected", LOWER)
    page.select_option("#add-constraint", "change_case:english_lowercase")
    page.click("[data-add-constraint]")
    expect(_state(page, "chosen")).to_have_attribute("data-state", "fail")
    expect(_state(page, "rejected")).to_have_attribute("data-state", "pass")

    # Both lists follow the typing, each on its own response.
    page.locator("#f-rejected").press("End")
    page.keyboard.type(" REALLY.")
    expect(_state(page, "rejected")).to_have_attribute("data-state", "fail")
    expect(_state(page, "chosen")).to_have_attribute("data-state", "fail")
    for _ in range(len(" REALLY.")):
        page.keyboard.press("Backspace")
    expect(_state(page, "rejected")).to_have_attribute("data-state", "pass")
    expect(page.locator("#checks-rejected [data-words]")).to_have_text(str(len(LOWER.split())))

    # Alt+X swaps the two responses; the verdicts and counts swap with them.
    page.keyboard.press("Alt+x")
    expect(page.locator("#f-output")).to_have_value(LOWER)
    expect(page.locator("#f-rejected")).to_have_value(SHOUTED)
    expect(_state(page, "chosen")).to_have_attribute("data-state", "pass")
    expect(_state(page, "rejected")).to_have_attribute("data-state", "fail")
    expect(page.locator("#checks-output [data-words]")).to_have_text(str(len(LOWER.split())))
    expect(page.locator("#preview .msg")).to_have_count(3)
    expect(page.locator('#preview [data-side="chosen"] pre')).to_have_text(LOWER)

    # Side by side here; the key is in the help.
    chosen_box = page.locator("#f-output").bounding_box()
    rejected_box = page.locator("#f-rejected").bounding_box()
    assert chosen_box and rejected_box and rejected_box["x"] > chosen_box["x"] + 100
    assert abs(rejected_box["y"] - chosen_box["y"]) < 5

    page.locator("#f-output").press("Control+s")
    page.wait_for_url(re.compile(r"/items/\d+/edit$"))
    item_id = int(page.url.rsplit("/", 2)[-2])
    db.rollback()  # see what the server committed
    item = db.get(Item, item_id)
    assert (item.kind, item.status) == ("preference", "draft")
    assert [(t["role"], t["content"]) for t in item.turns] == TURNS
    assert (item.output, item.rejected) == (LOWER, SHOUTED)
    assert item.constraints == [{"id": "change_case:english_lowercase", "params": {}}]
    expect(page.locator('input[name="prompt_form"][value="turns"]')).to_be_checked()
    expect(_state(page, "rejected")).to_have_attribute("data-state", "fail")

    page.locator("#f-rejected").press("Control+Enter")
    expect(page.locator("h1 .badge")).to_have_text("submitted")
    db.rollback()
    assert db.get(Item, item_id).status == "submitted"


def test_the_response_boxes_stack_on_a_narrow_screen(new_page, live, db):
    server, _ = live
    project, _admin = _project(db, "Browser pairs narrow")
    page = new_page(width=800, height=900)
    sign_in(page, _member(server, db, project, "annotator"), PASSWORD)
    page.goto(f"/projects/{project.id}/items/new?kind=preference&prompt=few_shot")
    expect(page.locator("#demo-rows")).to_be_visible()
    expect(page.locator("label[for=f-input] .when-few-shot")).to_be_visible()
    expect(page.locator("label[for=f-input] .when-single")).to_be_hidden()
    chosen_box = page.locator("#f-output").bounding_box()
    rejected_box = page.locator("#f-rejected").bounding_box()
    assert chosen_box and rejected_box and rejected_box["y"] > chosen_box["y"] + 50
    # Alt+X works without a focused box too, and the swap button is the same.
    page.fill("#f-output", "first")
    page.fill("#f-rejected", "second")
    page.click("[data-swap-responses]")
    expect(page.locator("#f-output")).to_have_value("second")
    expect(page.locator("#f-rejected")).to_have_value("first")
