"""In the browser: an admin freezes a version, launches a tiny fine-tune, and watches the job
page update itself (progress, loss chart, status) without a reload until the results open."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from app.db import begin_for_write
from app.items import service as items
from app.items.schemas import ItemDraft
from app.reviews import service as reviews
from tests.browser.conftest import ADMIN_PASSWORD, sign_in
from tests.browser.test_annotation_keys import _project
from tests.factories import join, make_user

pytestmark = pytest.mark.browser

ACTIVE = ("queued", "running")
JOB_TIMEOUT_MS = 240_000
EPOCHS = 12
WORDS = ["river", "lamp", "cloud", "stone", "garden", "violin", "harbour", "meadow", "candle"]

# Installed once the job page has loaded: a marker a reload would wipe out, and a record of
# what the live fragment showed after every htmx swap (after jobs.js has redrawn the chart).
RECORDER = """() => {
  window.__marker = 1;
  window.__seen = [];
  const canvas = () => document.querySelector('#loss-chart canvas');
  const first = canvas();
  if (first) first.__original = true;
  const hash = (text) => {
    let h = 5381;
    for (let i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) | 0;
    return text.length + ':' + h;
  };
  const snap = () => {
    const live = document.getElementById('job-live');
    const bar = document.getElementById('job-progress');
    const series = document.getElementById('job-series');
    const c = canvas();
    window.__seen.push({
      status: live ? live.dataset.status : null,
      value: bar ? Number(bar.value) : null,
      max: bar ? Number(bar.max) : null,
      step: (document.getElementById('job-step') || {}).textContent || null,
      x: series ? JSON.parse(series.textContent).x.length : -1,
      image: c ? hash(c.toDataURL()) : null,
    });
  };
  snap();
  // jobs.js redraws on document's htmx:afterSettle and uPlot commits in a microtask: read
  // the page a moment later so the snapshot sees the redrawn chart.
  document.addEventListener('htmx:afterSettle', () => setTimeout(snap, 50));
}"""


def _approved_project(db, count: int = 48):
    """A project with `count` approved items (a reviewer approves what the admin wrote)."""
    project, admin = _project(db, "Browser training")
    begin_for_write(db)  # see _project: the server may be writing too
    reviewer = make_user(db, role="reviewer")
    join(db, project, reviewer)
    for i in range(count):
        a, b = WORDS[i % len(WORDS)], WORDS[(i * 5 + 2) % len(WORDS)]
        if i % 4 == 3:
            draft = ItemDraft(
                kind="constraint",
                instruction=f"Describe a {a} and a {b} without commas ({i}).",
                output=f"A {a} sits quietly beside a {b} in the evening light",
                constraints=[{"id": "punctuation:no_comma"}],
            )
        else:
            draft = ItemDraft(
                kind="task",
                instruction=f"Write one sentence that uses the words {a} and {b} ({i}).",
                input=f"Number {i}.",
                output=f"The {a} near the {b} was number {i}.",
            )
        item = items.create_item(
            session=db, project=project, author=admin, submit=True, draft=draft
        )
        reviews.decide(
            session=db, item_id=item.id, reviewer=reviewer, decision="approve", version=item.version
        )
    db.commit()
    return project


def _job_failure(page) -> str:
    parts = []
    for selector in ("#job-status", "#job-error", "#job-log"):
        node = page.locator(selector)
        parts.append(f"{selector}: {node.text_content() if node.count() else '(absent)'}")
    return "\n".join(parts)


def test_a_launched_job_updates_live_until_its_results(page, live, db):
    project = _approved_project(db)
    sign_in(page, "admin@example.org", ADMIN_PASSWORD)

    # Freeze a version through the datasets page.
    page.goto(f"/projects/{project.id}/datasets")
    form = page.locator("#version-form")
    form.locator("#v-name").fill("live-v1")
    form.locator("#v-eval").fill("0.2")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/datasets/\d+$"))
    version_id = int(page.url.rsplit("/", 1)[-1])
    train_count = int(page.locator("#train-count").inner_text())
    eval_count = int(page.locator("#eval-count").inner_text())
    assert train_count + eval_count == 48
    assert eval_count > 0

    # The launch form: the estimate counts tokens for the chosen version.
    page.goto(f"/jobs/new?version_id={version_id}")
    expect(page.locator("#p-version")).to_have_value(str(version_id))
    expect(page.locator("#p-base")).to_have_value("tiny")
    expect(page.locator("#est-train")).to_have_text(str(train_count))
    expect(page.locator("#est-tokens")).to_have_text(re.compile(r"^[1-9][\d,]*$"))
    page.check("input[name=method][value=full]")
    page.fill("#p-epochs", str(EPOCHS))
    page.fill("#p-batch_size", "1")
    page.uncheck("input[name=packing]")  # one row per item: enough steps to watch
    page.locator("summary", has_text="Evaluation and checkpoints").click()
    page.fill("#p-eval_interval", "1")
    page.fill("#p-max_new_tokens", "8")
    steps = train_count * EPOCHS  # one item per step
    # The estimate follows the form (htmx on change): EPOCHS passes over unpacked single items.
    expect(page.locator("#est-steps")).to_have_text(str(steps))
    with page.expect_navigation():
        page.click("#launch")
    assert re.search(r"/jobs/\d+$", page.url), (
        f"the launch did not open a job page ({page.url}):\n{page.locator('body').inner_text()}"
    )
    job_id = int(page.url.rsplit("/", 1)[-1])
    live_part = page.locator("#job-live")
    expect(live_part).to_have_attribute("data-status", re.compile("|".join(ACTIVE)))
    expect(page.locator("#loss-chart canvas")).to_have_count(1)  # uPlot drew an (empty) chart
    page.evaluate(RECORDER)

    started = time.monotonic()
    # Until the recorder has seen the job end (or is gone: then the page was reloaded).
    try:
        page.wait_for_function(
            """() => !window.__seen
                     || !['queued', 'running'].includes(window.__seen.at(-1).status)""",
            timeout=JOB_TIMEOUT_MS,
            polling=250,
        )
    except PlaywrightTimeoutError:
        seen = page.evaluate("window.__seen || []")
        pytest.fail(
            f"job {job_id} did not end on the page within {JOB_TIMEOUT_MS // 1000}s; the live"
            " part showed:\n" + "\n".join(map(str, seen)) + "\n" + _job_failure(page)
        )
    elapsed = time.monotonic() - started
    status = live_part.get_attribute("data-status")
    assert status == "succeeded", f"job {job_id} ended {status}:\n{_job_failure(page)}"

    # Nothing reloaded the page: the marker and the recorder's history are still there.
    assert page.evaluate("window.__marker") == 1
    seen = page.evaluate("window.__seen")
    expect(page.locator("#job-status")).to_have_text(re.compile("succeeded", re.I))
    history = "\n".join(map(str, seen))
    running = [s for s in seen if s["status"] == "running"]
    assert running, f"never saw the job running in {elapsed:.0f}s:\n{history}"
    # Progress moved while the job ran, then filled the bar.
    moving = {s["value"] for s in running if s["value"] > 0}
    assert moving, f"the progress bar never moved while running:\n{history}"
    values = {s["value"] for s in seen if s["value"] > 0}
    assert len(values) >= 2, f"fewer than two progress values:\n{history}"
    assert seen[-1]["value"] == seen[-1]["max"] == steps, history
    expect(page.locator("#job-progress")).to_have_attribute("value", str(steps))
    expect(page.locator("#job-step")).to_have_text(re.compile(rf"\b{steps}\b.*\b{steps}\b"))
    # The chart data grew over time and the chart was redrawn in place (the same canvas).
    xs = [s["x"] for s in seen if s["x"] > 0]
    assert xs and xs[0] < xs[-1], f"the chart data did not grow:\n{history}"
    assert xs == sorted(xs), history
    assert xs[-1] == steps, history
    images = {s["image"] for s in seen if s["image"]}
    assert len(images) >= 2, f"the loss chart never changed:\n{history}"
    assert page.evaluate("document.querySelector('#loss-chart canvas').__original === true")
    assert page.locator("#loss-chart").get_attribute("data-drawn") == "1"
    # Polling stops once the job is over.
    assert live_part.get_attribute("hx-get") is None

    # The results page.
    results = page.locator("#results-link")
    expect(results).to_be_visible()
    results.click()
    page.wait_for_url(f"**/jobs/{job_id}/results")
    expect(page.locator("#metrics-overall")).to_be_visible()
    expect(page.locator("#prediction-table tbody tr")).to_have_count(eval_count)
    expect(page.locator("#eval-loss")).to_have_text(re.compile(r"^\d+\.\d{4}$"))
