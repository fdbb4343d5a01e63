"""Take the README's screenshots (`make screenshots`).

Starts the app the way the browser tests do: a fresh SQLite database and var dir in a temporary
folder, `studio run` on a free loopback port (it migrates, loads the demo and starts a local
trainer worker), then drives Debian's Chromium at 1280×800 through the demo and writes one PNG
per screen into docs/screenshots/. Nothing is downloaded; a run takes a few minutes, most of it
the tiny fine-tune.

    python scripts/screenshots.py [--out DIR] [--chromium PATH] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
STUDIO = shutil.which("studio") or str(Path(sys.executable).parent / "studio")
WIDTH, HEIGHT = 1280, 800
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.org", "screenshots-admin-1"
JOB_TIMEOUT_MS = 600_000

sys.path.insert(0, str(ROOT))
from app.demo.loader import DEMO_PASSWORD, FIRST_VERSION, load_content  # noqa: E402

DEMO_PROJECT = load_content().project["name"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def studio(tmp: Path) -> Iterator[str]:
    """`studio run` on a fresh database; yields its base URL and stops it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "STUDIO_DATABASE_URL": f"sqlite:///{tmp / 'studio.db'}",
        "STUDIO_VAR_DIR": str(tmp / "var"),
        "STUDIO_ADMIN_EMAIL": ADMIN_EMAIL,
        "STUDIO_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    log_path = tmp / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [STUDIO, "run", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"studio run exited:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"studio run did not start:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()  # the worker exits with its parent
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


class Shooter:
    def __init__(self, browser, url: str, out: Path):
        self.browser, self.url, self.out = browser, url, out
        self.taken: list[Path] = []

    def page(self, email: str | None = None, password: str = DEMO_PASSWORD) -> Page:
        context = self.browser.new_context(
            base_url=self.url, viewport={"width": WIDTH, "height": HEIGHT}
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        if email:
            page.goto("/login")
            page.fill("#email", email)
            page.fill("#password", password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/login" not in url)
        return page

    def shot(self, page: Page, name: str) -> None:
        """The viewport as it stands, without toasts, focus rings or a blinking caret."""
        page.wait_for_load_state("networkidle")
        page.wait_for_function("() => !document.querySelector('.htmx-request')")
        page.evaluate(
            """() => {
                document.getElementById('toasts')?.replaceChildren();
                document.activeElement?.blur();
            }"""
        )
        path = self.out / f"{name}.png"
        page.screenshot(path=str(path), full_page=False, animations="disabled", caret="hide")
        self.taken.append(path)
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)


def open_project(page: Page) -> int:
    page.goto("/projects")
    page.locator("a.link-card", has_text=DEMO_PROJECT).click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    return int(page.url.rsplit("/", 1)[-1])


def find_item(page: Page, project_id: int, **filters: str) -> int:
    """The id of the first item the project's list shows under ``filters`` (kind, status, q)."""
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    page.goto(f"/projects/{project_id}/items?{query}")
    link = page.locator("#item-rows a[href$='/edit']").first
    return int(link.get_attribute("href").split("/")[-2])


def take(shooter: Shooter) -> None:
    # Sign-in.
    page = shooter.page()
    page.goto("/login")
    page.fill("#email", "annotator@demo.local")
    shooter.shot(page, "login")
    page.context.close()

    # The editor: a constraint item whose output breaks one of its rules.
    page = shooter.page("annotator@demo.local")
    project_id = open_project(page)
    page.goto(f"/projects/{project_id}/items/new?kind=constraint")
    page.fill("#f-instruction", "Describe the harbour at dawn in one sentence, without commas.")
    page.fill("#f-output", "At dawn the harbour is quiet, grey and still, and the boats wait.")
    for row, (constraint, params) in enumerate(
        (
            ("punctuation:no_comma", {}),
            ("length_constraints:number_words", {"num_words": "25", "relation": "less than"}),
            ("startend:end_checker", {"end_phrase": "the boats wait."}),
        )
    ):
        page.select_option("#add-constraint", constraint)
        page.click("[data-add-constraint]")
        page.locator(f'.constraint-row[data-row="{row}"]').wait_for()
        for name, value in params.items():
            field = page.locator(f"#c-{row}-{name}")
            if field.evaluate("el => el.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)
    page.fill("#f-domain", "writing")
    page.locator(
        '#verdicts li[data-constraint="punctuation:no_comma"][data-state="fail"]'
    ).wait_for()
    page.locator("#verdicts li").nth(2).wait_for()
    page.locator('#verdicts li[data-state="pass"]').first.wait_for()
    page.wait_for_timeout(600)  # the debounced check settles
    page.evaluate("window.scrollTo(0, 0)")
    shooter.shot(page, "editor-live-checks")
    page.context.close()

    # The review screen, opened from the queue with `j`.
    page = shooter.page("reviewer@demo.local")
    project_id = open_project(page)
    page.locator(".page-head").get_by_role("link", name="Review", exact=True).click()
    page.locator("[data-start]").wait_for()
    page.keyboard.press("j")
    page.wait_for_url(re.compile(r"/items/\d+/review"))
    shooter.shot(page, "review")
    # A conversation on the review screen: the tutor's system prompt, then every turn.
    item_id = find_item(page, project_id, kind="conversation", status="submitted", q="twelfths")
    page.goto(f"/items/{item_id}/review")
    page.locator("#item-content .msg-system").wait_for()
    shooter.shot(page, "review-conversation")
    # A preference pair: the haiku's chosen response keeps to lowercase, the rejected one not.
    item_id = find_item(page, project_id, kind="preference", q="haiku")
    page.goto(f"/items/{item_id}/review")
    page.locator("#item-content-responses").wait_for()
    shooter.shot(page, "review-pair")
    page.context.close()

    # The editor: a conversation whose last answer is still to be written.
    page = shooter.page("annotator@demo.local")
    project_id = open_project(page)
    item_id = find_item(page, project_id, kind="conversation", status="draft", q="Maya")
    page.goto(f"/items/{item_id}/edit")
    page.locator("#turn-3").wait_for()
    page.locator("#turns").evaluate("el => el.scrollIntoView()")
    page.evaluate("window.scrollBy(0, -24)")
    shooter.shot(page, "editor-conversation")
    page.context.close()

    # Membership: a project manager's members page, and an annotator's home with assigned work.
    page = shooter.page("reviewer2@demo.local")
    project_id = open_project(page)
    page.goto(f"/projects/{project_id}/members")
    page.locator("#members-table").wait_for()
    shooter.shot(page, "members")
    page.context.close()
    page = shooter.page("annotator2@demo.local")
    page.goto("/")
    page.locator("meter").first.wait_for()
    shooter.shot(page, "home-assigned")
    page.context.close()

    # Demo v1, then a tiny fine-tune on it: live view, results and data map.
    page = shooter.page(ADMIN_EMAIL, ADMIN_PASSWORD)
    open_project(page)
    page.get_by_role("link", name="Datasets", exact=True).click()
    page.locator("#versions").get_by_role("link", name=FIRST_VERSION, exact=True).click()
    page.wait_for_url(re.compile(r"/datasets/\d+$"))
    page.locator(".hist-chart canvas").first.wait_for()
    shooter.shot(page, "dataset-version")
    # Further down: the distributions and the length histograms.
    page.locator(".bars").first.evaluate("el => el.closest('.card').scrollIntoView()")
    page.evaluate("window.scrollBy(0, -24)")
    shooter.shot(page, "dataset-version-charts")
    # The conversations' charts: turns per conversation, tokens per user and assistant turn.
    page.locator("#turn-tokens-chart canvas").wait_for()
    page.locator("#conversation-stats").evaluate("el => el.scrollIntoView()")
    page.evaluate("window.scrollBy(0, -24)")
    shooter.shot(page, "dataset-version-conversations")
    # The pairs: counts per split, lengths of chosen and rejected, and the length bias.
    page.locator("#pair-length-chart canvas").wait_for()
    page.locator("#pair-statistics").evaluate("el => el.scrollIntoView()")
    page.evaluate("window.scrollBy(0, -24)")
    shooter.shot(page, "dataset-version-pairs")

    page.click("#launch-on-version")
    page.wait_for_url("**/jobs/new?version_id=*")
    with page.expect_navigation():
        page.click("#launch")
    job_id = int(page.url.rsplit("/", 1)[-1])
    # Mid-run if the worker lets us see it: a third of the steps done, the curve on its way.
    page.wait_for_function(
        """() => {
            const live = document.getElementById('job-live');
            if (!live || !['queued', 'running'].includes(live.dataset.status)) return true;
            const bar = document.getElementById('job-progress');
            const series = JSON.parse(document.getElementById('job-series').textContent);
            return live.dataset.status === 'running' && bar.max > 1
                && bar.value >= bar.max / 3 && series.x.length >= 5;
        }""",
        timeout=JOB_TIMEOUT_MS,
        polling=200,
    )
    if page.locator("#job-live").get_attribute("data-status") == "running":
        page.wait_for_timeout(300)  # jobs.js redraws just after the swap
        shooter.shot(page, "job-live")
        page.locator("#job-live:not([data-status=queued]):not([data-status=running])").wait_for(
            timeout=JOB_TIMEOUT_MS
        )
    status = page.locator("#job-live").get_attribute("data-status")
    if status != "succeeded":
        raise SystemExit(f"job {job_id} ended {status}:\n{page.locator('main').inner_text()}")
    page.wait_for_timeout(300)
    shooter.shot(page, "job-finished")

    page.click("#results-link")
    page.wait_for_url(f"**/jobs/{job_id}/results")
    shooter.shot(page, "job-results")
    # Improving an output: the prompt, the model's answer, and a person's better one. The
    # first base output with a few words to show (the briefly tuned tiny model mostly answers
    # with blanks).
    links = page.locator('a[data-improve-side="base"]')
    hrefs = [links.nth(n).get_attribute("href") for n in range(min(links.count(), 12))]
    for href in hrefs:
        page.goto(href)
        if len(page.locator("#model-text").inner_text().split()) >= 5:
            break
    page.fill(
        "#chosen",
        "Besides the tent: a sleeping bag and mat for cold nights, a warm layer and a rain "
        "jacket, a headlamp, water, simple food and a small first-aid kit.",
    )
    shooter.shot(page, "improve-output")
    page.goto(f"/jobs/{job_id}/datamap")
    page.locator("#datamap circle").first.wait_for()
    shooter.shot(page, "datamap")
    evaluation(shooter, page, job_id)
    page.context.close()


def evaluation(shooter: Shooter, page: Page, job_id: int) -> None:
    """A round on the job, judged blind by the demo's reviewer; the demo's closed rounds (built
    from the demo job's outputs, which finished before this job) fill the leaderboard."""
    project_id = open_project(page)
    page.goto(f"/projects/{project_id}/evaluation/new?job_id={job_id}")
    page.fill("#r-name", "Spring check")
    with page.expect_navigation():
        page.click("#create-round")
    round_path = page.url.removeprefix(shooter.url)
    reviewer = shooter.page("reviewer@demo.local")
    reviewer.goto(f"{round_path}/judge")
    reviewer.locator("#output-1").wait_for()
    # The outputs and the decision keys, below the end of the prompt.
    reviewer.locator("#output-1").evaluate("el => el.scrollIntoView()")
    reviewer.evaluate("window.scrollBy(0, -160)")
    shooter.shot(reviewer, "judging")
    reviewer.context.close()
    page.goto(f"/projects/{project_id}/leaderboard")
    shooter.shot(page, "leaderboard")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go")
    parser.add_argument("--chromium", default=os.environ.get("STUDIO_CHROMIUM", CHROMIUM))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        raise SystemExit(f"{args.chromium} is missing (apt-get install chromium fonts-noto-cjk)")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="studio-screenshots-"))
    started = time.monotonic()
    try:
        with studio(tmp) as url, sync_playwright() as p:
            print(f"studio run on {url}; writing to {args.out}", flush=True)
            browser = p.chromium.launch(
                executable_path=args.chromium,
                args=[
                    "--no-sandbox",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--disable-gpu",
                    "--hide-scrollbars",
                ],
            )
            try:
                shooter = Shooter(browser, url, args.out)
                take(shooter)
            finally:
                browser.close()
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    total = sum(path.stat().st_size for path in shooter.taken)
    print(
        f"{len(shooter.taken)} screenshots, {total // 1024} KiB in all,"
        f" in {time.monotonic() - started:.0f}s"
    )


if __name__ == "__main__":
    main()
