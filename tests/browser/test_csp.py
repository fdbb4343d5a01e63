"""Every page type under the Content-Security-Policy, in English and in Chinese: no violation,
no console error, no uncaught exception, and no inline handler or inline script in the DOM.

One context per language, each signed in as its own admin; the Chinese one gets there through
the language switch, whose inline ``onchange`` handler was one of the violations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import select

from app.assignments import service as assignments
from app.db import begin_for_write
from app.evaluation import rounds
from app.items import service as items
from app.items.schemas import ItemDraft
from app.members import service as members
from app.models import Item
from app.reviews import service as reviews
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, make_user
from tests.job_factories import project_version, run_job

pytestmark = pytest.mark.browser

REPORTER = """() => {
  document.addEventListener('securitypolicyviolation', (e) => window.__cspViolation({
    page: location.pathname + location.search,
    directive: e.violatedDirective,
    blocked: e.blockedURI,
    sample: e.sample,
    source: e.sourceFile + ':' + e.lineNumber,
  }));
}"""
# What the policy forbids and would only report once it runs: handlers, eval'd htmx attributes,
# inline scripts. (Style attributes are reported as the page is parsed; scripts set styles
# through the CSSOM, which the policy allows, so the DOM may show style attributes.)
INLINE_CODE = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const name = a.name.toLowerCase();
      if (/^on[a-z]+$/.test(name) || name.startsWith('hx-on') || name === 'hx-vars'
          || (name === 'hx-vals' && /^\\s*(js|javascript):/.test(a.value))
          || (['href', 'src', 'action', 'formaction'].includes(name)
              && /^\\s*javascript:/i.test(a.value))) {
        found.push(el.tagName.toLowerCase() + '[' + name + '=' + a.value.slice(0, 60) + ']');
      }
    }
  }
  for (const s of document.querySelectorAll('script:not([src])')) {
    if (s.type !== 'application/json') found.push('<script>' + s.textContent.slice(0, 60));
  }
  return found;
}"""


@dataclass(frozen=True)
class Visit:
    name: str
    path: str
    status: int = 200
    settle: bool = False  # the page starts htmx requests or fetches on load: wait for them
    shows: str = ""  # a selector the page must show (the state the visit is about)


@dataclass
class Findings:
    violations: list[dict] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    inline: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """One line per distinct finding."""
        lines = [
            f"violation of {v['directive']} on {v['page']} ({v['blocked']} {v['sample']!r})"
            for v in self.violations
        ]
        lines += self.console + self.exceptions + self.inline + self.statuses
        return list(dict.fromkeys(lines))


@pytest.fixture
def site(db):
    """A project with a frozen version, two finished jobs, and two items reopened with a link
    (one inside the app, one outside); an admin for each language, each a manager of the
    project with a quota and work assigned (one task overdue)."""
    db.commit()
    begin_for_write(db)  # the live server may be writing too (see test_annotation_keys)
    project, admin, version = project_version(db, name="Pages under the policy")
    job, _ = run_job(db, version, admin)
    other, _ = run_job(db, version, admin, losses=(2.8, 2.2, 1.9))
    approved = db.scalars(
        select(Item.id).where(Item.project_id == project.id).order_by(Item.id).limit(2)
    ).all()
    for item_id, reason, link in zip(
        approved,
        ("flagged_by_training", "factual_error"),
        (f"/jobs/{job.id}", "https://wandb.example.org/runs/1"),
        strict=True,
    ):
        reviews.reopen(session=db, item_id=item_id, actor=admin, reason=reason, link=link)
    chinese_admin = make_user(db, role="admin")
    draft = items.create_item(
        session=db,
        project=project,
        author=admin,
        submit=False,
        draft=ItemDraft(kind="task", instruction="Name three rivers.", output=""),
    )
    unlabeled = db.scalar(
        select(Item.id).where(Item.project_id == project.id, Item.status == "approved").limit(1)
    )
    for person in (admin, chinese_admin):
        members.add_member(
            session=db, project=project, user=person, role="manager", actor=admin, quota=12
        )
    for item_id, task, due in ((draft.id, "write", date(2020, 1, 31)), (unlabeled, "label", None)):
        assignments.assign(
            session=db, project_id=project.id, item_ids=[item_id], task=task,
            user_ids=[admin.id, chinese_admin.id], due_date=due, actor=admin,
        )  # fmt: skip
    judged = rounds.create_round(
        session=db,
        project=project,
        data=rounds.RoundInput(name="Spring check", a=f"{job.id}:tuned", b=f"{other.id}:tuned"),
        actor=admin,
    )
    db.commit()
    return {
        "round": judged.id,
        "pid": project.id,
        "vid": version.id,
        "item": approved[0],
        "outside_link_item": approved[1],
        "draft": draft.id,
        "job": job.id,
        "other_job": other.id,
        "admin": admin.email,
        "chinese_admin": chinese_admin.email,
    }


def _visits(s: dict, import_path: str) -> list[Visit]:
    pid, iid, job = s["pid"], s["item"], s["job"]
    return [
        Visit("home-assigned", "/", shows="#home-assigned .overdue"),
        Visit("projects", "/projects"),
        Visit("project-new", "/projects/new"),
        Visit("project", f"/projects/{pid}"),
        Visit("project-edit", f"/projects/{pid}/edit"),
        Visit("members", f"/projects/{pid}/members", shows="#members-table meter"),
        Visit(
            "assign-matching", f"/projects/{pid}/assign?status=approved", shows="#assign-progress"
        ),
        Visit(
            "assign-selected",
            f"/projects/{pid}/assign?item_id={iid}&item_id={s['draft']}",
            shows="#assignments-table",
        ),
        Visit("guidelines", f"/projects/{pid}/guidelines/1"),
        Visit("items", f"/projects/{pid}/items"),
        *[
            Visit(f"editor-{kind}", f"/projects/{pid}/items/new?kind={kind}", settle=True)
            for kind in ("task", "constraint", "example")
        ],
        Visit("editor-edit", f"/items/{iid}/edit", settle=True),
        Visit("history", f"/items/{iid}/history"),
        Visit("label", f"/projects/{pid}/label"),
        Visit("agreement", f"/projects/{pid}/agreement"),
        Visit("review-queue", f"/projects/{pid}/review"),
        Visit("review-item", f"/items/{iid}/review"),
        Visit("review-item-outside-link", f"/items/{s['outside_link_item']}/review"),
        Visit("inbox", "/inbox"),
        Visit("stats", f"/projects/{pid}/stats", settle=True),
        Visit("datasets", f"/projects/{pid}/datasets"),
        Visit("dataset", f"/datasets/{s['vid']}", settle=True),
        Visit("duplicates", f"/projects/{pid}/duplicates"),
        Visit("imports", f"/projects/{pid}/imports"),
        Visit("import", import_path, settle=True),
        Visit("tasks", f"/projects/{pid}/tasks"),
        Visit("jobs", "/jobs"),
        Visit("job-new", f"/jobs/new?version_id={s['vid']}", settle=True),
        Visit("job", f"/jobs/{job}", settle=True),
        Visit("job-results", f"/jobs/{job}/results"),
        Visit("job-datamap", f"/jobs/{job}/datamap"),
        Visit("job-compare", f"/jobs/compare?ids={job}&ids={s['other_job']}", settle=True),
        Visit("evaluation", f"/projects/{pid}/evaluation"),
        Visit("round-new", f"/projects/{pid}/evaluation/new?job_id={job}", settle=True),
        Visit("round", f"/rounds/{s['round']}", settle=True),
        Visit("judge", f"/rounds/{s['round']}/judge"),
        Visit("leaderboard", f"/projects/{pid}/leaderboard"),
        Visit("users", "/admin/users"),
        Visit("tokens", "/admin/tokens"),
        Visit("audit", "/admin/audit"),
        Visit("api-docs", "/docs", settle=True),
        Visit("error-404", "/no/such/page", status=404),
        Visit("error-422", f"/jobs/compare?ids={job}", status=422),
    ]


def _watch(context, page, findings: Findings, error_pages: set[str]) -> None:
    context.expose_binding("__cspViolation", lambda _source, v: findings.violations.append(v))
    context.add_init_script(f"({REPORTER})()")

    def on_console(message) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        # The error pages answer 404 and 422 on purpose; Chromium logs that as a failed load.
        if message.text.startswith("Failed to load resource") and any(
            where.endswith(path) for path in error_pages
        ):
            return
        findings.console.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: findings.exceptions.append(f"{page.url}: {error}"))


def _visit(page, visit: Visit, findings: Findings) -> None:
    response = page.goto(visit.path)
    if response is None or response.status != visit.status:
        findings.statuses.append(f"{visit.name}: {response and response.status}")
    page.wait_for_load_state("networkidle" if visit.settle else "load")
    if visit.shows and not page.locator(visit.shows).count():
        findings.statuses.append(f"{visit.name}: nothing matches {visit.shows}")
    findings.inline += [f"{visit.name}: {found}" for found in page.evaluate(INLINE_CODE)]


def _switch_language(page, language: str, findings: Findings) -> None:
    """Through the header's language switch, as a person would."""
    try:
        with page.expect_navigation(timeout=5000):
            page.select_option("#lang-switch", language)
    except PlaywrightTimeoutError:
        findings.statuses.append(f"the language switch did not send its form ({language})")
    if page.locator("html").get_attribute("lang") != "zh-Hans":
        findings.statuses.append("the pages are not in Chinese after the switch")


def test_every_page_runs_under_the_policy_in_both_languages(browser, live, site, tmp_path):
    server, _ = live
    upload = tmp_path / "small.jsonl"
    upload.write_text('{"instruction": "Say hi", "output": "hi"}\n{"instruction": ""}\n')
    results: dict[str, list[str]] = {}
    import_path = ""
    for language, email in (("en", site["admin"]), ("zh", site["chinese_admin"])):
        findings = Findings()
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.set_default_timeout(15000)
            _watch(context, page, findings, {"/no/such/page", f"/jobs/compare?ids={site['job']}"})
            _visit(page, Visit("login", "/login"), findings)
            sign_in(page, email, PASSWORD)
            if language == "zh":
                _switch_language(page, "zh", findings)
            else:
                # An import to show: uploaded through its page, as a person does.
                page.goto(f"/projects/{site['pid']}/imports")
                page.set_input_files("#file", str(upload))
                page.click("#upload-form button[type=submit]")
                page.wait_for_url(re.compile(r"/imports/\d+"))
                import_path = page.url.removeprefix(server.url)
            for visit in _visits(site, import_path):
                _visit(page, visit, findings)
            # The shortcut list opens from its button (a script, no inline handler).
            page.goto("/")
            page.click("[data-help-open]")
            page.locator("#help[open]").wait_for()
        finally:
            context.close()
        results[language] = findings.problems()
    report = [f"{language}: {line}" for language, lines in results.items() for line in lines]
    assert not report, "\n".join(report)
