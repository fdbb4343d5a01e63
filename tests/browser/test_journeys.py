"""The product's journeys end to end, through the browser only (design §7): an annotator
writes one item of each kind, an admin fine-tunes on the demo's first version and sends the
hardest item back to review, and a Chinese-speaking annotator works in the Chinese interface.

Setup the UI cannot do quickly (a fresh project, fresh accounts) goes through the services
or the `studio` command; everything the journey is about happens in Chromium.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_PASSWORD, sign_in
from tests.browser.test_annotation_keys import PASSWORD, _member, _project

pytestmark = pytest.mark.browser

JOB_TIMEOUT_MS = 240_000  # the tiny preset trains in seconds; a busy 2-core box is slower
ACTIVE = ("queued", "running")


def _open_project(page, name: str) -> None:
    """Projects → the project's page, by clicking."""
    page.goto("/")
    topbar = page.locator("header.topbar nav")
    topbar.get_by_role("link", name=re.compile("^(Projects|项目)$")).click()
    page.locator("a.link-card", has_text=name).click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))


def _saved_item_id(page) -> int:
    page.wait_for_url(re.compile(r"/items/\d+/edit$"))
    return int(page.url.rsplit("/", 2)[-2])


def test_annotator_writes_one_item_of_each_kind(page, live, db):
    server, _ = live
    project, _admin = _project(db, "Journey: three kinds")
    sign_in(page, _member(server, db, project, "annotator"), PASSWORD)
    _open_project(page, project.name)
    page.get_by_role("link", name="Write an item").first.click()
    page.wait_for_url("**/items/new?kind=task")

    # A task, submitted with the button.
    expect(page.locator(".tab.active")).to_have_text("task")
    page.fill("#f-instruction", "Translate the sentence into French.")
    page.fill("#f-input", "The library opens at nine.")
    page.fill("#f-output", "La bibliothèque ouvre à neuf heures.")
    expect(page.locator("#preview .msg-assistant")).to_contain_text("La bibliothèque")
    page.get_by_role("button", name=re.compile("Submit for review")).click()
    task_id = _saved_item_id(page)
    expect(page.locator("#toasts")).to_contain_text("Item submitted for review.")
    expect(page.locator("h1 .badge")).to_have_text("submitted")

    # A constraint: the live check fails on a comma, passes once it is gone; Ctrl+Enter.
    page.goto(f"/projects/{project.id}/items/new?kind=task")
    page.locator(".tab", has_text="constraint").click()
    page.wait_for_url("**/items/new?kind=constraint")
    page.fill("#f-instruction", "Describe the sea in one sentence without using any commas.")
    page.fill("#f-output", "The sea is wide, cold, and restless.")
    page.select_option("#add-constraint", "punctuation:no_comma")
    page.click("[data-add-constraint]")
    verdict = page.locator('#verdicts li[data-constraint="punctuation:no_comma"]')
    expect(verdict).to_have_attribute("data-state", "fail")
    expect(verdict).to_contain_text("Found 2 commas")
    page.fill("#f-output", "The sea is wide and cold and restless.")
    expect(verdict).to_have_attribute("data-state", "pass")
    page.locator("#f-output").press("Control+Enter")
    constraint_id = _saved_item_id(page)
    expect(page.locator("h1 .badge")).to_have_text("submitted")
    expect(page.locator('#verdicts li[data-constraint="punctuation:no_comma"]')).to_have_attribute(
        "data-state", "pass"
    )

    # An example: two demonstrations and a query, submitted with the button.
    page.goto(f"/projects/{project.id}/items/new?kind=example")
    page.fill("#f-instruction", "Give the opposite of the word.")
    demos = page.locator("#demo-rows .demo-row")
    expect(demos).to_have_count(1)
    demos.nth(0).locator("textarea[name=demo_input]").fill("hot")
    demos.nth(0).locator("textarea[name=demo_output]").fill("cold")
    page.click("[data-add-demo]")
    expect(demos).to_have_count(2)
    demos.nth(1).locator("textarea[name=demo_input]").fill("early")
    demos.nth(1).locator("textarea[name=demo_output]").fill("late")
    page.fill("#f-input", "tall")
    page.fill("#f-output", "short")
    expect(page.locator("#preview")).to_contain_text("early")
    expect(page.locator("#empty-fields")).to_have_count(0)
    page.locator("[data-submit]").click()
    example_id = _saved_item_id(page)
    expect(page.locator("h1 .badge")).to_have_text("submitted")

    # All three are on the project's items list, each with its kind, submitted.
    _open_project(page, project.name)
    page.get_by_role("link", name="Items", exact=True).click()
    rows = page.locator("#item-rows tr[data-item]")
    expect(rows).to_have_count(3)
    for item_id, kind, words in (
        (task_id, "task", "Translate the sentence"),
        (constraint_id, "constraint", "Describe the sea"),
        (example_id, "example", "Give the opposite"),
    ):
        row = page.locator(f'#item-rows tr[data-item="{item_id}"]')
        expect(row.locator("td").nth(2)).to_have_text(kind)
        expect(row).to_contain_text(words)
        expect(row.locator(".badge.status-submitted")).to_have_text("submitted")


def _wait_for_status(page, job_id: int, leaving: tuple[str, ...], what: str) -> str:
    """Wait until the live part shows a status outside `leaving`; fail with the log."""
    statuses = ", ".join(f"'{s}'" for s in leaving)
    try:
        page.wait_for_function(
            f"() => ![{statuses}].includes(document.getElementById('job-live')?.dataset.status)",
            timeout=JOB_TIMEOUT_MS,
            polling=500,
        )
    except PlaywrightTimeoutError:
        log = page.locator("#job-log")
        pytest.fail(
            f"job {job_id} {what} within {JOB_TIMEOUT_MS // 1000}s; it shows"
            f" {page.locator('#job-live').get_attribute('data-status')!r}:\n"
            + (log.text_content() if log.count() else "(no log)")
        )
    return page.locator("#job-live").get_attribute("data-status")


def _wait_for_job_end(page, job_id: int) -> str:
    # The one local worker may still be busy with another test's job: the clock for training
    # starts when this job leaves the queue.
    _wait_for_status(page, job_id, ("queued",), "was not claimed by a worker")
    return _wait_for_status(page, job_id, ACTIVE, "did not end")


def test_admin_fine_tunes_the_demo_and_sends_the_hardest_item_back(page, new_page, demo):
    sign_in(page, "admin@example.org", ADMIN_PASSWORD)

    # Project → Datasets → Demo v1 → "Fine-tune on this version".
    _open_project(page, demo.project_name)
    page.get_by_role("link", name="Datasets", exact=True).click()
    page.locator("#versions").get_by_role("link", name=demo.version_name, exact=True).click()
    page.wait_for_url(f"**/datasets/{demo.version_id}")
    train_count = int(page.locator("#train-count").inner_text())
    assert train_count > 0
    page.click("#launch-on-version")
    page.wait_for_url(f"**/jobs/new?version_id={demo.version_id}")
    expect(page.locator("#p-version")).to_have_value(str(demo.version_id))
    expect(page.locator("#p-base")).to_have_value("tiny")  # keep the preset
    expect(page.locator("#est-train")).to_have_text(str(train_count))
    expect(page.locator("#estimate")).not_to_contain_text("Some fields are invalid")
    # The demo version holds preference pairs too; supervised fine-tuning leaves them out.
    pairs = re.search(r"\((\d+) train,", page.locator("#est-pairs").inner_text())
    assert pairs, page.locator("#estimate").inner_text()
    sft_train = train_count - int(pairs.group(1))
    with page.expect_navigation():
        page.click("#launch")
    assert re.search(r"/jobs/\d+$", page.url), page.locator("main").inner_text()
    job_id = int(page.url.rsplit("/", 1)[-1])
    expect(page.locator("#job-setup")).to_contain_text(demo.version_name)

    status = _wait_for_job_end(page, job_id)
    error = page.locator("#job-error")
    assert status == "succeeded", error.text_content() if error.count() else status
    expect(page.locator("#loss-chart canvas")).to_have_count(1)

    page.click("#results-link")
    page.wait_for_url(f"**/jobs/{job_id}/results")
    expect(page.locator("#metrics-overall")).to_be_visible()
    expect(page.locator("#eval-loss")).to_have_text(re.compile(r"^\d+\.\d{4}$"))

    # The data map: one dot per supervised training item; send the hardest one back.
    page.locator("main .actions").get_by_role("link", name="Data map").click()
    page.wait_for_url(f"**/jobs/{job_id}/datamap")
    expect(page.locator("#datamap circle")).to_have_count(sft_train)
    form = page.locator("#hardest-form")
    boxes = form.locator("input[name=item_ids]")
    assert boxes.count() > 0
    for box in boxes.all():
        box.uncheck()
    hardest = form.locator("tr[data-item]").first
    item_id = int(hardest.get_attribute("data-item"))
    hardest.locator("input[name=item_ids]").check()
    expect(form.locator("input[name=item_ids]:checked")).to_have_count(1)
    with page.expect_navigation():
        page.click("#send-back")
    assert page.url.endswith(f"/jobs/{job_id}/datamap"), page.url
    expect(page.locator("#toasts")).to_contain_text("sent back to review")

    # The reviewer's queue serves it first, with the reason and a link to the job.
    reviewer = new_page()
    sign_in(reviewer, "reviewer@demo.local", demo.password)
    _open_project(reviewer, demo.project_name)
    reviewer.locator(".page-head").get_by_role("link", name="Review", exact=True).click()
    reviewer.wait_for_url(f"**/projects/{demo.project_id}/review")
    expect(reviewer.locator("[data-start]")).to_be_visible()
    reviewer.keyboard.press("j")  # start reviewing
    reviewer.wait_for_url(re.compile(r"/items/\d+/review"))
    served = int(re.search(r"/items/(\d+)/review", reviewer.url).group(1))
    assert served == item_id, f"the queue served #{served} before the sent-back #{item_id}"
    reason = reviewer.locator("#reopen-reason")
    expect(reason).to_contain_text("flagged by training")
    expect(reason).to_contain_text(f"job #{job_id}")
    link = reason.get_by_role("link")
    expect(link).to_have_attribute("href", f"/jobs/{job_id}")
    expect(reviewer.locator("#decision-form")).to_be_visible()
    link.click()
    reviewer.wait_for_url(f"**/jobs/{job_id}")
    expect(reviewer.locator("#job-live")).to_have_attribute("data-status", "succeeded")


def test_chinese_annotator_writes_a_task_in_the_chinese_interface(page, demo):
    sign_in(page, "annotator2@demo.local", demo.password)
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("navigation", name="主导航")).to_contain_text("项目")

    _open_project(page, demo.project_name)
    page.get_by_role("link", name="编写条目").first.click()
    page.wait_for_url(f"**/projects/{demo.project_id}/items/new?kind=task")
    expect(page.locator("h1")).to_have_text("新建条目")
    expect(page.locator(".tab.active")).to_have_text("任务")
    expect(page.locator("label[for=f-instruction]")).to_have_text("指令")
    expect(page.locator("label[for=f-output]")).to_have_text("输出")
    expect(page.locator("[data-save]")).to_contain_text("保存草稿")
    expect(page.locator("[data-submit]")).to_contain_text("提交审核")

    # The live check speaks Chinese: the output is still empty.
    page.fill("#f-instruction", "把“早上好，今天天气不错”翻译成英文。")
    live = page.locator("#live")
    expect(live.locator("h2").first).to_have_text("实时检查")
    expect(page.locator("#empty-fields li")).to_have_count(1)
    expect(page.locator("#empty-fields li")).to_contain_text("为空")
    expect(page.locator("#counts thead")).to_contain_text("词数")
    page.fill("#f-output", "Good morning, the weather is nice today.")
    expect(page.locator("#empty-fields")).to_have_count(0)
    expect(page.locator("#preview .msg-assistant")).to_contain_text("Good morning")
    expect(page.locator("#preview .msg-user .role")).to_have_text("用户")

    page.locator("#f-output").press("Control+Enter")
    page.wait_for_url(re.compile(r"/items/\d+/edit$"))
    expect(page.locator("#toasts")).to_contain_text("条目已提交审核。")
    expect(page.locator("h1 .badge")).to_have_text("已提交")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
