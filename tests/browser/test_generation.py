"""In the browser: the model helps write. A manager drafts the outputs of prompts with a
fine-tune's model and watches the job page fill in by itself; the drafted item's editor marks
the output as model-drafted and, once edited and saved with Ctrl+S, how much of it changed.
Rule-based augmentation runs as a background task and its drafts name their source. Trying a
fine-tune's model answers beside its starting model, without a reload; only Ctrl+Enter asks
(once, with no script the Content-Security-Policy refuses), and a refused ask says why above
the one form."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from app.core import protocol
from app.datasets import freezing
from app.datasets.versions import VersionFilter
from app.db import begin_for_write
from app.items import service as items
from app.items.schemas import ItemDraft
from app.jobs import service as jobs
from app.models import Item, Job
from app.reviews import service as reviews
from tests.browser.conftest import sign_in
from tests.browser.test_annotation_keys import _project
from tests.factories import PASSWORD, join, make_user

pytestmark = pytest.mark.browser

ACTIVE = ("queued", "running")
# Hang guards only: the server's one worker may still be busy with the demo's jobs.
JOB_TIMEOUT_S = 300
JOB_TIMEOUT_MS = JOB_TIMEOUT_S * 1000
WORDS = ["river", "lamp", "cloud", "stone", "garden", "violin", "harbour", "meadow", "candle"]
PROMPTS = [
    "Name three rivers in Europe and say which country each flows through.",
    "Write a haiku about a quiet morning in the mountains.",
    "Explain what a prime number is to a ten-year-old.",
    "Describe a lamp beside a violin in one sentence.",
    "Suggest a name for a garden near a harbour.",
    "Say why a candle flickers in a draught.",
]
# The manager's new output for a drafted item: words the model never wrote.
EDITED_OUTPUT = "Amsterdam keeps its canals quiet at dawn while herons wait on the bridges."
TRY_PROMPT = "Write one sentence that uses the words river and lamp."

# A marker a reload would wipe out.
MARK = "() => { window.__marker = 1; }"
UNRELOADED = "() => window.__marker === 1"


def _member(db: Session, project, role: str):
    user = make_user(db, role="reviewer" if role == "reviewer" else "annotator")
    join(db, project, user, role=role)
    return user


def _approve(db: Session, project, author, reviewer, drafts: list[ItemDraft]) -> list[Item]:
    made = []
    for draft in drafts:
        item = items.create_item(
            session=db, project=project, author=author, submit=True, draft=draft
        )
        reviews.decide(
            session=db, item_id=item.id, reviewer=reviewer, decision="approve", version=item.version
        )
        made.append(item)
    return made


def _sentences(count: int) -> list[ItemDraft]:
    return [
        ItemDraft(
            kind="task",
            instruction=f"Write one sentence that uses the words {a} and {b}.",
            input=f"Number {i}.",
            output=f"The {a} near the {b} was number {i}.",
            language="en",
        )
        for i in range(count)
        for a, b in [(WORDS[i % len(WORDS)], WORDS[(i * 5 + 2) % len(WORDS)])]
    ]


def _wait_for_job(engine, job_id: int) -> Job:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        with Session(engine) as session:
            job = session.get(Job, job_id)
            if job.status not in ACTIVE:
                session.expunge(job)
                return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end within {JOB_TIMEOUT_S}s")


@dataclass(frozen=True)
class Drafting:
    """A project with a finished tiny fine-tune, the manager who launched it and prompts
    that wait for an output."""

    project_id: int
    manager_email: str
    job_id: int
    prompt_ids: list[int]


@pytest.fixture(scope="module")
def drafting(live) -> Drafting:
    """One tiny fine-tune, launched through the service and run by the server's worker, shared
    by the drafting and the try-the-model tests."""
    _server, engine = live
    with Session(engine, expire_on_commit=False) as db:
        project, admin = _project(db, "Browser drafting")
        begin_for_write(db)
        manager = _member(db, project, "manager")
        reviewer = _member(db, project, "reviewer")
        _approve(db, project, manager, reviewer, _sentences(16))
        version = freezing.create_version(
            session=db,
            project=project,
            name="drafting-v1",
            f=VersionFilter(),
            actor=admin,
            eval_fraction=0.0,
        )
        job = jobs.launch(
            session=db,
            version_id=version.id,
            base_model="tiny",
            params=protocol.JobParams(
                method="full", max_steps=12, batch_size=4, learning_rate=5e-3, warmup_ratio=0
            ),
            actor=manager,
        )
        prompts = [
            items.create_item(
                session=db,
                project=project,
                author=manager,
                draft=ItemDraft(kind="task", instruction=text, language="en"),
            )
            for text in PROMPTS
        ]
        db.commit()
        data = Drafting(project.id, manager.email, job.id, [p.id for p in prompts])
    finished = _wait_for_job(engine, data.job_id)
    assert finished.status == "succeeded", (
        f"the fine-tune ended {finished.status}: {finished.error}"
    )
    return data


def _job_failure(page) -> str:
    parts = []
    for selector in ("#job-status", "#job-error", "#job-log", "#job-skipped-reasons"):
        node = page.locator(selector)
        parts.append(f"{selector}: {node.text_content() if node.count() else '(absent)'}")
    return "\n".join(parts)


def test_a_manager_drafts_outputs_with_the_tuned_model_and_edits_one(page, live, drafting):
    _server, engine = live
    sign_in(page, drafting.manager_email, PASSWORD)

    # From the item list, filtered to the drafts: the form carries the filter.
    page.goto(f"/projects/{drafting.project_id}/items?status=draft")
    page.click("#generate-matching")
    page.wait_for_url(re.compile(rf"/projects/{drafting.project_id}/generate\?"))
    expect(page.locator("#generate-scope")).to_have_text(
        "The items matching the item list's filter"
    )
    form = page.locator("#generate-form")
    expect(form.locator("input[type=hidden][name=status]")).to_have_value("draft")
    expect(page.locator("input[name=task][value=draft]")).to_be_checked()
    expect(page.locator("#count-draft")).to_have_text(f"({len(PROMPTS)} items qualify)")

    page.check("input[name=task][value=draft]")
    page.select_option("#g-start", str(drafting.job_id))
    page.fill("#g-max_new_tokens", "8")
    page.fill("#g-batch_size", "2")
    with page.expect_navigation():
        page.click("#generate-launch")
    assert re.search(r"/jobs/\d+$", page.url), (
        f"the launch did not open a job page ({page.url}):\n{page.locator('body').inner_text()}"
    )
    job_id = int(page.url.rsplit("/", 1)[-1])
    expect(page.locator("#job-start")).to_contain_text(f"job #{drafting.job_id}")
    live_part = page.locator("#job-live")
    expect(live_part).to_have_attribute("data-status", re.compile("|".join(ACTIVE)))
    expect(page.locator("#job-drafts")).to_have_count(0)
    page.evaluate(MARK)

    try:
        page.wait_for_function(
            """() => !window.__marker || !['queued', 'running'].includes(
                         document.getElementById('job-live').dataset.status)""",
            timeout=JOB_TIMEOUT_MS,
            polling=250,
        )
    except PlaywrightTimeoutError:
        pytest.fail(f"job {job_id} did not end on the page:\n{_job_failure(page)}")
    assert page.evaluate(UNRELOADED), "the job page was reloaded instead of updating itself"
    status = live_part.get_attribute("data-status")
    assert status == "succeeded", f"job {job_id} ended {status}:\n{_job_failure(page)}"
    expect(page.locator("#job-status")).to_have_text(re.compile("succeeded", re.I))
    assert live_part.get_attribute("hx-get") is None  # polling stopped

    # Every prompt is accounted for: written, or skipped with its reason shown.
    written = int(page.locator("#job-written").inner_text())
    skipped = int(page.locator("#job-skipped").inner_text())
    assert written + skipped == len(PROMPTS), _job_failure(page)
    expect(page.locator("#job-progress")).to_have_attribute("value", str(len(PROMPTS)))
    if skipped:
        expect(page.locator("#job-skipped-reasons")).to_be_visible()
    assert written >= 1, f"the tuned model wrote no draft:\n{_job_failure(page)}"
    drafts = page.locator("#job-drafts li a")
    expect(drafts).to_have_count(written)

    # A drafted item: the mark names the job, and the output is the model's.
    drafts.first.click()
    page.wait_for_url(re.compile(r"/items/\d+/edit$"))
    item_id = int(page.url.rsplit("/", 2)[-2])
    assert item_id in drafting.prompt_ids
    mark = page.locator("#model-drafted")
    expect(mark).to_contain_text(f"Model-drafted output · job #{job_id} · unchanged so far")
    with Session(engine) as session:
        drafted = session.get(Item, item_id)
        assert drafted.drafted_job_id == job_id and drafted.status == "draft"
        expect(page.locator("#f-output")).to_have_value(drafted.output)
        assert drafted.output.strip()

    page.fill("#f-output", EDITED_OUTPUT)
    page.locator("#f-output").press("Control+s")
    expect(mark).to_contain_text(re.compile(r"job #\d+ · \d+% of its words changed"), timeout=15000)
    shown = int(re.search(r"(\d+)% of its words changed", mark.inner_text()).group(1))
    with Session(engine) as session:
        saved = session.get(Item, item_id)
        assert saved.output == EDITED_OUTPUT
        assert saved.drafted_job_id == job_id
        assert saved.draft_edit_ratio > 0
        assert shown == round(100 * saved.draft_edit_ratio)
    expect(page.locator("#f-output")).to_have_value(EDITED_OUTPUT)


# Installed before asking: what each settled answer panel showed (status, queue line).
PANELS = """() => {
  window.__panels = [];
  document.getElementById('try-answers').addEventListener('htmx:afterSettle', () => {
    const p = document.querySelector('#try-answers > .try-answer');
    const queue = p && p.querySelector('[id^=try-queue-]');
    if (p) window.__panels.push([p.dataset.status, queue ? queue.textContent : '']);
  });
}"""
# Installed before the page loads: the Content-Security-Policy violations it meets.
VIOLATIONS = """() => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation',
    (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
}"""
# Counts the tries the prompt form asks for.
ASKS = """() => {
  window.__asks = 0;
  document.addEventListener('htmx:beforeRequest', (e) => {
    if (e.detail.elt.id === 'try-form') window.__asks += 1;
  });
}"""


def _open_try(page, drafting) -> None:
    sign_in(page, drafting.manager_email, PASSWORD)
    page.goto(f"/jobs/{drafting.job_id}")
    page.click("#try-link")
    page.wait_for_url(f"**/jobs/{drafting.job_id}/try")
    page.fill("#try-length", "8")


def test_trying_the_model_answers_beside_its_start_without_a_reload(page, drafting):
    _open_try(page, drafting)
    before = page.locator("#try-answers .try-answer").count()
    page.evaluate(MARK)
    page.evaluate(PANELS)

    page.fill("#try-prompt", TRY_PROMPT)
    page.locator("#try-prompt").press("Control+Enter")
    # The newest answer comes first.
    panel = page.locator("#try-answers > .try-answer").first
    expect(page.locator("#try-answers .try-answer")).not_to_have_count(before)
    expect(panel.locator(".try-prompt")).to_have_text(TRY_PROMPT)
    try:
        expect(panel).to_have_attribute(
            "data-status", re.compile("succeeded|failed"), timeout=JOB_TIMEOUT_MS
        )
    except AssertionError:
        pytest.fail(f"the try did not end on the page:\n{panel.inner_text()}")
    assert page.evaluate(UNRELOADED), "the try page was reloaded instead of updating itself"
    assert panel.get_attribute("data-status") == "succeeded", panel.inner_text()
    expect(panel.locator(".try-base")).to_be_visible()
    expect(panel.locator(".try-tuned")).to_be_visible()
    assert panel.get_attribute("hx-get") is None  # polling stopped
    # It came in queued, saying what it waits for, and the polls brought the answers.
    panels = page.evaluate("window.__panels")
    assert panels[0][0] == "queued", panels
    assert re.fullmatch(
        r"Waiting for a trainer worker…|\d+ jobs? ahead in the queue · \d+ jobs? running",
        panels[0][1].strip(),
    ), panels
    assert panels[-1] == ["succeeded", ""], panels


def test_only_ctrl_enter_asks_and_it_asks_once(page, drafting):
    page.add_init_script(f"({VIOLATIONS})()")
    _open_try(page, drafting)
    page.evaluate(ASKS)
    prompt = page.locator("#try-prompt").first  # a refused ask may add a second one
    prompt.press_sequentially("Name")
    prompt.press("Control+Enter")
    expect(page.locator("#try-answers > .try-answer").first).to_be_visible()
    page.wait_for_function("() => !document.querySelector('#try-form.htmx-request')")
    assert page.evaluate("window.__violations") == []
    assert page.evaluate("window.__asks") == 1


def test_synonym_replacement_writes_linked_drafts_in_the_background(page, live):
    _server, engine = live
    with Session(engine, expire_on_commit=False) as db:
        project, _admin = _project(db, "Browser augmentation")
        begin_for_write(db)
        manager = _member(db, project, "manager")
        reviewer = _member(db, project, "reviewer")
        sources = _approve(db, project, manager, reviewer, _sentences(6))
        db.commit()
        source_ids = {item.id for item in sources}
    sign_in(page, manager.email, PASSWORD)

    page.goto(f"/projects/{project.id}/items?kind=task")
    page.click("#augment-matching")
    page.wait_for_url(re.compile(rf"/projects/{project.id}/augment\?"))
    expect(page.locator("#augment-scope")).to_contain_text(
        "The items matching the item list's filter"
    )
    expect(page.locator("#augment-count")).to_have_text(f"{len(sources)} items qualify")
    page.check("#augment-synonym_replacement")
    page.fill("#augment-seed", "7")
    with page.expect_navigation():
        page.click("#augment-start")
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    task_id = int(page.url.rsplit("/", 1)[-1])
    task = page.locator(f"#task-{task_id}")
    expect(task).to_be_visible()
    page.evaluate(MARK)

    outcome = page.locator(f"#augment-outcome-{task_id}")
    expect(outcome).to_be_visible(timeout=JOB_TIMEOUT_MS)
    assert page.evaluate(UNRELOADED), "the task page was reloaded instead of updating itself"
    expect(task).to_have_attribute("data-state", "done")
    count = outcome.locator("strong[data-written]")
    written = int(count.get_attribute("data-written"))
    assert written >= 1, outcome.inner_text()
    expect(count).to_have_text(f"{written} draft{'s' if written != 1 else ''} written")
    expect(outcome).to_contain_text("synonym replacement, seed 7")

    # The outcome leads to the augmented drafts in the item list.
    outcome.locator(f"#augment-drafts-{task_id}").click()
    page.wait_for_url(re.compile(r"origin=augmented"))
    rows = page.locator("#item-rows tr[data-item]")
    expect(rows).to_have_count(written)
    new_ids = {int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.item)")}
    assert not new_ids & source_ids
    rows.first.locator("td a").first.click()
    page.wait_for_url(re.compile(r"/items/\d+/edit$"))
    made = page.locator(".made[data-origin=augmented]")
    expect(made).to_contain_text(re.compile(r"Augmented from #\d+ by synonym replacement"))
    source = int(re.search(r"Augmented from #(\d+)", made.inner_text()).group(1))
    assert source in source_ids
    with Session(engine) as session:
        copy = session.get(Item, int(page.url.rsplit("/", 2)[-2]))
        original = session.get(Item, source)
        assert copy.status == "draft" and copy.output == original.output
        assert copy.instruction != original.instruction
    expect(page.locator("#f-instruction")).to_have_value(copy.instruction)


def test_a_refused_ask_shows_its_error_in_the_one_form(page, drafting):
    _open_try(page, drafting)
    before = page.locator("#try-answers .try-answer").count()
    page.click("#try-ask")  # no prompt and no item
    expect(page.locator("#try-errors")).to_be_visible()
    expect(page.locator("#try-form")).to_have_count(1)
    expect(page.locator("#try-answers #try-errors")).to_have_count(0)
    expect(page.locator("#try-answers .try-answer")).to_have_count(before)
