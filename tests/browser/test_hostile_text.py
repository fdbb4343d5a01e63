"""In the browser: text that looks like HTML is shown as text, never run, and a 5,000-character
line without a break does not push the page wider than a 1280×800 window.

The item goes through the product the way people make it: an annotator types it in the editor,
a reviewer approves it on the review screen, an admin freezes it into a dataset version."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_PASSWORD, sign_in
from tests.browser.test_annotation_keys import PASSWORD, _member, _project

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1280, 800
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
LONG = "x9" * 2500  # 5,000 characters, no space, no hyphen
INSTRUCTION = f"{SCRIPT} Summarise {IMG} this line: {LONG}"
OUTPUT = f'{LONG}\n{IMG} and {SCRIPT} & "quotes" stay text.'


def _assert_safe(page, where: str) -> None:
    """Nothing ran, nothing was parsed into an element, and the layout holds."""
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.__pwned") == "undefined", f"{where}: a payload ran"
    assert (
        page.locator("main img[src='x'], main script:not([src])").evaluate_all(
            "nodes => nodes.filter(n => /__pwned/.test(n.outerHTML)).length"
        )
        == 0
    ), f"{where}: the payload became an element"
    size = page.evaluate(
        """() => ({
            doc: document.documentElement.scrollWidth,
            body: document.body.scrollWidth,
            main: Math.ceil(document.getElementById('main').getBoundingClientRect().right),
        })"""
    )
    assert max(size.values()) <= WIDTH, f"{where}: the page is wider than the window: {size}"
    # Scrolling panels would hide a box that overflows: each box showing the long line wraps it.
    spilling = page.evaluate(
        """(needle) => [...document.querySelectorAll('#main pre, #main td, #main li')]
            .filter(el => el.textContent.includes(needle) && el.offsetParent !== null)
            .filter(el => el.scrollWidth > el.clientWidth + 1)
            .map(el => `${el.tagName.toLowerCase()}.${el.className}: ${el.scrollWidth}px`)""",
        LONG[:40],
    )
    assert not spilling, f"{where}: the long line runs out of its box: {spilling}"


def _literal(locator, text: str, where: str) -> None:
    """The element shows `text` exactly as typed (entities decoded, tags as characters)."""
    shown = locator.text_content()
    assert text in shown, f"{where}: {text[:60]!r}… is not shown literally in {shown[:200]!r}"


def test_hostile_text_is_inert_and_the_layout_holds(page, new_page, live, db):
    server, _ = live
    project, _admin = _project(db, "Hostile text")
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))

    # The annotator types it; the live panel renders it as text while they type.
    sign_in(page, _member(server, db, project, "annotator"), PASSWORD)
    page.goto(f"/projects/{project.id}/items/new?kind=task")
    page.fill("#f-instruction", INSTRUCTION)
    page.fill("#f-output", OUTPUT)
    preview = page.locator("#preview")
    expect(preview.locator(".msg-assistant")).to_contain_text(IMG)
    _literal(preview.locator(".msg-user pre"), INSTRUCTION, "editor preview")
    _literal(preview.locator(".msg-assistant pre"), OUTPUT, "editor preview")
    _assert_safe(page, "new item editor")

    page.locator("#f-output").press("Control+s")
    page.wait_for_url(re.compile(r"/items/\d+/edit$"))
    item_id = int(page.url.rsplit("/", 2)[-2])
    expect(page.locator("#f-instruction")).to_have_value(INSTRUCTION)
    expect(page.locator("#f-output")).to_have_value(OUTPUT)
    expect(preview.locator(".msg-assistant")).to_contain_text(IMG)
    _assert_safe(page, "saved item editor")
    page.locator("#f-output").press("Control+Enter")
    expect(page.locator("h1 .badge")).to_have_text("submitted")
    _assert_safe(page, "editor after submitting")

    # The items list shows the start of the instruction as text.
    page.goto(f"/projects/{project.id}/items")
    cell = page.locator(f'#item-rows tr[data-item="{item_id}"] td.clamp-cell a')
    _literal(cell, INSTRUCTION[:200], "items list")
    _assert_safe(page, "items list")
    page.fill("#q", "Summarise")  # the search answers with htmx: swapped in, still inert
    expect(page.locator("#item-rows tr[data-item]")).to_have_count(1)
    _literal(cell, INSTRUCTION[:200], "items search")
    _assert_safe(page, "items search")

    # The reviewer sees it as the model will, then approves it.
    reviewer = new_page(WIDTH, HEIGHT)
    reviewer.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    sign_in(reviewer, _member(server, db, project, "reviewer"), PASSWORD)
    reviewer.goto(f"/projects/{project.id}/review")
    reviewer.keyboard.press("j")
    reviewer.wait_for_url(f"**/items/{item_id}/review")
    _literal(reviewer.locator(".preview .msg-user pre"), INSTRUCTION, "review screen")
    _literal(reviewer.locator(".preview .msg-assistant pre"), OUTPUT, "review screen")
    _assert_safe(reviewer, "review screen")
    reviewer.keyboard.press("a")
    reviewer.locator("#queue-done").wait_for()

    # Frozen into a version, it shows in the version's preview as text.
    admin = new_page(WIDTH, HEIGHT)
    sign_in(admin, "admin@example.org", ADMIN_PASSWORD)
    admin.goto(f"/projects/{project.id}/datasets")
    admin.fill("#v-name", "hostile-v1")
    admin.fill("#v-eval", "0")
    admin.locator("#version-form button[type=submit]").click()
    admin.wait_for_url(re.compile(r"/datasets/\d+$"))
    expect(admin.locator("#train-count")).to_have_text("1")
    item_preview = admin.locator(
        ".preview-item", has=admin.locator(f'a[href="/items/{item_id}/edit"]')
    )
    _literal(item_preview.locator(".msg-user pre"), INSTRUCTION, "version preview")
    _literal(item_preview.locator(".msg-assistant pre"), OUTPUT, "version preview")
    _assert_safe(admin, "dataset version")
