"""Walk every page at 1280 px in English and Chinese, screenshot it and check it.

Starts the app as `scripts/screenshots.py` does (fresh SQLite database, `studio run`, the demo,
a local trainer worker), adds an empty project, an import and a conversation written in the
editor (turns typed, an exchange added with Alt+Enter, saved, edited, submitted), optionally
fine-tunes the tiny model for the job pages, then visits each page as the admin in both
languages, a few as an annotator, a project manager's (a demo reviewer's) home, members and
assign pages, and a Chinese-speaking annotator's home with work assigned. For each page it
writes a full-page PNG and reports:

- content wider than the 1280 px viewport (outside a scrolling container);
- form fields with no label (no <label for>, wrapping label, aria-label or title);
- "1 <plural noun>" in the text (a count message that is not plural-aware);
- on Chinese pages, runs of English words (user data such as item text is expected there).

    python scripts/ui_check.py [--out /tmp/ui-check] [--job]

Nothing is written under docs/; the summary is also saved as results.json in --out.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from screenshots import ADMIN_EMAIL, ADMIN_PASSWORD, CHROMIUM, Shooter, open_project, studio

CHECKS = r"""
() => {
  const vw = document.documentElement.clientWidth;
  const out = {width: document.documentElement.scrollWidth, overflow: [], unlabeled: []};
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + [...el.classList].map(c => '.' + c).join('');
  const scrolls = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  document.querySelectorAll('body *').forEach(el => {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > vw + 1 && !scrolls(el)) out.overflow.push(name(el));
  });
  document.querySelectorAll('input, select, textarea').forEach(el => {
    if (['hidden', 'submit'].includes(el.type) || el.closest('template')) return;
    const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby') || el.title;
    if (!labelled) out.unlabeled.push(el.outerHTML.slice(0, 120));
  });
  out.plural = (document.body.innerText.match(/(^|[^\d.,])1 [A-Za-z-]+s\b/g) || []).slice(0, 5);
  return out;
}
"""


MANAGER_PAGES = ("project", "members", "assign", "assign-selected")
CONVERSATION = (
    "What is a prime number?",
    "A whole number above 1 that only 1 and itself divide.",
    "那 9 是质数吗？",
    "不是：9 = 3 × 3。",
)


def write_conversation(page: Page, pid: str) -> str:
    """Write a conversation through the editor as an annotator would, save it, edit a turn
    (a second revision for the history), submit it; returns its id."""
    page.goto(f"/projects/{pid}/items/new?kind=conversation")
    page.locator("#system-prompt summary").press("Enter")
    page.fill("#f-system", "You are a patient maths tutor.")
    page.fill("#turn-0", CONVERSATION[0])
    page.fill("#turn-1", CONVERSATION[1])
    page.locator("#turn-1").press("Alt+Enter")
    page.locator("#turn-2").wait_for()
    page.fill("#turn-2", CONVERSATION[2])
    page.fill("#turn-3", CONVERSATION[3][:-1])
    page.locator("#turn-3").press("Control+s")
    page.wait_for_url(re.compile(r"/items/\d+/edit$"))
    item = page.url.rsplit("/", 2)[-2]
    page.fill("#turn-3", CONVERSATION[3])
    page.locator("#turn-3").press("Control+Enter")
    page.locator("h1 .badge", has_text=re.compile("submitted|已提交")).wait_for()
    return item


def check(page: Page, out: Path, name: str, results: dict) -> None:
    page.wait_for_load_state("networkidle")
    time.sleep(0.3)
    lang = page.evaluate("document.documentElement.lang")
    key = f"{lang}-{name}"
    page.screenshot(path=str(out / f"{key}.png"), full_page=True)
    found = page.evaluate(CHECKS)
    if lang.startswith("zh"):
        text = page.locator("body").inner_text()
        found["english"] = sorted(set(re.findall(r"\b[A-Za-z][a-z]+(?: [a-z]+)+\b", text)))[:20]
    found["error_page"] = page.locator(".error-page").count() > 0
    results[key] = found
    problems = [k for k in ("overflow", "unlabeled", "plural") if found[k]]
    if found["error_page"]:
        problems.append("error page")
    print(f"{key}: {', '.join(problems) or 'ok'}", flush=True)


def pages(page: Page, tmp: Path, base: str, with_job: bool) -> list[tuple[str, str]]:
    """Create what the pages need and list them as (name, path)."""
    pid = open_project(page)
    page.goto(f"/projects/{pid}/datasets")
    vid = page.locator("#versions a").first.get_attribute("href").rsplit("/", 1)[-1]
    page.goto(f"/projects/{pid}/items")
    rows = page.locator("#item-rows tr[data-item]")
    iid, iid2 = (rows.nth(n).get_attribute("data-item") for n in (0, 1))
    page.goto("/projects/new")
    page.fill("#p-name", "Empty project")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    empty = page.url.rsplit("/", 1)[-1]
    upload = tmp / "small.jsonl"
    upload.write_text('{"instruction": "Say hi", "output": "hi"}\n{"instruction": ""}\n')
    page.goto(f"/projects/{pid}/imports")
    page.set_input_files("#file", str(upload))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/imports/\d+"))
    imported = page.url.removeprefix(base)
    chat = write_conversation(page, pid)
    page.goto(f"/projects/{pid}/items?kind=preference&status=approved")
    pair = page.locator("#item-rows tr[data-item]").first.get_attribute("data-item")
    found = [
        ("home", "/"),
        ("projects", "/projects"),
        ("project", f"/projects/{pid}"),
        ("project-edit", f"/projects/{pid}/edit"),
        ("members", f"/projects/{pid}/members"),
        ("assign", f"/projects/{pid}/assign"),
        ("assign-selected", f"/projects/{pid}/assign?item_id={iid}&item_id={iid2}"),
        ("guidelines", f"/projects/{pid}/guidelines/1"),
        ("items", f"/projects/{pid}/items"),
        ("items-bulk-all", f"/projects/{pid}/items/bulk/all?status=draft"),
        *[
            (f"editor-{kind}", f"/projects/{pid}/items/new?kind={kind}")
            for kind in ("task", "constraint", "example", "conversation", "preference")
        ],
        ("editor-pair-turns", f"/projects/{pid}/items/new?kind=preference&prompt=turns"),
        ("editor-edit-pair", f"/items/{pair}/edit"),
        ("review-pair", f"/items/{pair}/review"),
        ("history-pair", f"/items/{pair}/history"),
        ("editor-edit", f"/items/{iid}/edit"),
        ("editor-edit-conversation", f"/items/{chat}/edit"),
        ("history-conversation", f"/items/{chat}/history"),
        ("review-conversation", f"/items/{chat}/review"),
        ("history", f"/items/{iid}/history"),
        ("label", f"/projects/{pid}/label"),
        ("agreement", f"/projects/{pid}/agreement"),
        ("review-queue", f"/projects/{pid}/review"),
        ("review-item", f"/items/{iid}/review"),
        ("inbox", "/inbox"),
        ("stats", f"/projects/{pid}/stats"),
        ("balance", f"/projects/{pid}/balance"),
        ("dataset-balance", f"/datasets/{vid}/balance"),
        ("generate", f"/projects/{pid}/generate?status=draft"),
        ("generate-bootstrap", f"/projects/{pid}/generate?task=bootstrap"),
        ("augment", f"/projects/{pid}/augment?status=approved"),
        ("datasets", f"/projects/{pid}/datasets"),
        ("dataset", f"/datasets/{vid}"),
        ("duplicates", f"/projects/{pid}/duplicates"),
        ("imports", f"/projects/{pid}/imports"),
        ("import-job", imported),
        ("tasks", f"/projects/{pid}/tasks"),
        ("jobs", "/jobs"),
        ("job-new", f"/jobs/new?version_id={vid}"),
        ("evaluation", f"/projects/{pid}/evaluation"),
        ("round-new", f"/projects/{pid}/evaluation/new"),
        ("leaderboard", f"/projects/{pid}/leaderboard"),
        ("users", "/admin/users"),
        ("tokens", "/admin/tokens"),
        ("audit", "/admin/audit"),
        *[
            (f"empty-{name}", f"/projects/{empty}{suffix}")
            for name, suffix in (
                ("project", ""),
                ("items", "/items"),
                ("datasets", "/datasets"),
                ("duplicates", "/duplicates"),
                ("stats", "/stats"),
                ("agreement", "/agreement"),
                ("queue", "/review"),
                ("label", "/label"),
                ("imports", "/imports"),
                ("members", "/members"),
                ("assign", "/assign"),
                ("tasks", "/tasks"),
                ("evaluation", "/evaluation"),
                ("leaderboard", "/leaderboard"),
            )
        ],
    ]
    if with_job:
        page.goto(f"/jobs/new?version_id={vid}")
        with page.expect_navigation():
            page.click("#launch")
        job = page.url.rsplit("/", 1)[-1]
        done = "#job-live:not([data-status=queued]):not([data-status=running])"
        page.locator(done).wait_for(timeout=600_000)
        # A round on the job: its page (live results) and its judging screen.
        page.goto(f"/projects/{pid}/evaluation/new?job_id={job}")
        page.fill("#r-name", "Spring check")
        with page.expect_navigation():
            page.click("#create-round")
        round_path = page.url.removeprefix(base)
        # Improving a tuned output of the job (and making pairs, refused while the round runs).
        page.goto(f"/jobs/{job}/results")
        improve = page.locator('a[data-improve-side="tuned"]').first.get_attribute("href")
        found += [("improve-output", improve), ("round-pairs", f"{round_path}/pairs")]
        # A try of the job's model, and a drafting job with it (its page once it has run).
        page.goto(f"/jobs/{job}/try")
        page.fill("#try-prompt", "Name a colour.")
        page.keyboard.press("Control+Enter")
        page.locator(".try-answer[data-status=succeeded]").first.wait_for(timeout=120_000)
        page.goto(f"/projects/{pid}/generate?status=draft")
        page.select_option("#g-start", job)
        with page.expect_navigation():
            page.click("#generate-launch")
        drafting = page.url.rsplit("/", 1)[-1]
        found += [("job-try", f"/jobs/{job}/try"), ("generation-job", f"/jobs/{drafting}")]
        found += [
            ("job", f"/jobs/{job}"),
            ("job-results", f"/jobs/{job}/results"),
            ("job-datamap", f"/jobs/{job}/datamap"),
            ("round-new-job", f"/projects/{pid}/evaluation/new?job_id={job}"),
            ("round", round_path),
            ("judge", f"{round_path}/judge"),
        ]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/ui-check"))
    parser.add_argument("--job", action="store_true", help="fine-tune the tiny model (minutes)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    tmp = Path(tempfile.mkdtemp(prefix="studio-ui-check-"))
    with studio(tmp) as url, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        )
        shooter = Shooter(browser, url, args.out)
        page = shooter.page(ADMIN_EMAIL, ADMIN_PASSWORD)
        visits = pages(page, tmp, url, args.job)
        for lang in ("en", "zh"):
            page.goto("/")
            # The switch submits its form: wait for that navigation, or the next goto aborts it.
            with page.expect_navigation():
                page.select_option("#lang-switch", lang)
            for name, path in visits:
                page.goto(path)
                check(page, args.out, name, results)
        annotator = shooter.page("annotator@demo.local")
        for name, path in visits[:3] + [("inbox", "/inbox")]:
            annotator.goto(path)
            check(annotator, args.out, f"annotator-{name}", results)
        # A manager of the demo project by membership only (a global reviewer), with work of
        # their own to review in the second project.
        manager = shooter.page("reviewer2@demo.local")
        for name, path in [visits[0]] + [v for v in visits if v[0] in MANAGER_PAGES]:
            manager.goto(path)
            check(manager, args.out, f"manager-{name}", results)
        # A Chinese-speaking annotator's home, with writing handed to her in the second project.
        chinese = shooter.page("annotator2@demo.local")
        chinese.goto("/")
        check(chinese, args.out, "annotator2-home", results)
        signed_out = shooter.page()
        signed_out.goto("/login")
        check(signed_out, args.out, "login", results)
        browser.close()
    (args.out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(f"{len(results)} pages; screenshots and results.json in {args.out}")


if __name__ == "__main__":
    main()
