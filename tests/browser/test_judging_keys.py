"""In the browser: a reviewer judges a round's ten prompts with the keyboard alone, and each
key lands as the verdict it means in the systems' terms; `?` lists the keys, `k` / `j` walk
back through the answers given, `v` shows the constraint checks. Meanwhile a manager who is
not judging watches the results fill in; once they close the round, the job's results page
gives the verdict. A rating round's keys."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.kinds import ItemContent
from app.datasets import versions
from app.db import begin_for_write
from app.models import EvalJudgment, EvalPrediction, Job, Project, User
from app.models.base import utcnow
from tests.browser.conftest import sign_in
from tests.browser.test_annotation_keys import PASSWORD, _member
from tests.eval_factories import make_round
from tests.test_judging_screen import constraint_job

pytestmark = pytest.mark.browser
PROMPTS = 10
CHOICES = {"1": "first", "2": "second", "3": "tie", "4": "both_bad"}
BASE_OUTPUT = "no idea"


def _finished(session, version, admin):
    """A job as a worker leaves it: succeeded, with base and tuned outputs for every eval item.
    Written directly: the live server's demo queues a job of its own, which a test worker's
    claim would take first."""
    job = Job(
        project_id=version.project_id,
        dataset_version_id=version.id,
        base_model="tiny",
        params={},
        status="succeeded",
        created_by=admin.id,
        finished_at=utcnow(),
    )
    session.add(job)
    session.flush()
    for link, revision in versions.pinned(session, version.id, "eval"):
        content = ItemContent.from_row(revision.snapshot)
        session.add(
            EvalPrediction(
                job_id=job.id,
                item_id=link.item_id,
                kind=content.kind,
                reference=content.output,
                base_output=BASE_OUTPUT,
                # The tuned model gets tasks right and breaks the no-comma rule.
                tuned_output=content.output if content.kind == "task" else "red, blue, and green",
                scores={},
            )
        )
    session.flush()
    return (job,)


def _setup(server, db, name: str, **fields):
    """A round of ten prompts (eight tasks, two with a constraint) between the tuned (A) and
    base (B) outputs of a finished job, and a reviewer of its project: (round, email)."""
    db.commit()
    begin_for_write(db)  # the live server may be writing too (see test_annotation_keys)
    project, admin, job = constraint_job(db, tasks=9, constrained=3, finish=_finished, name=name)
    found = make_round(db, project, admin, job, name="Keyboard round", **fields)
    db.commit()
    return found, _member(server, db, project, "reviewer")


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.on(
        "console",
        lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None,
    )
    return problems


def _prompt(page) -> int:
    return int(page.locator("form[data-judge-form]").get_attribute("data-prompt"))


def _left(page, prompt_id: int) -> None:
    """Wait until the page shows another prompt (or the done page)."""
    page.wait_for_function(
        """(id) => {
          const f = document.querySelector('form[data-judge-form]');
          return document.getElementById('judge-done') || (f && f.dataset.prompt !== id);
        }""",
        arg=str(prompt_id),
    )


def _pressed(page) -> str | None:
    return page.locator('button[aria-pressed="true"]').get_attribute("value")


def _verdicts_open(page) -> list[bool]:
    return page.locator("details[data-verdicts]").evaluate_all("els => els.map(d => d.open)")


def test_a_reviewer_judges_ten_prompts_with_the_keyboard(page, new_page, live, db):
    server, _ = live
    found, email = _setup(server, db, "Browser judging")
    manager = _member(server, db, db.get(Project, found.project_id), "admin")
    watcher = new_page()
    sign_in(watcher, manager, PASSWORD)
    watcher.goto(f"/rounds/{found.id}")
    watcher.locator("#results-live").wait_for()  # live: the manager judges nothing
    watcher.locator("#round-results #no-judgments").wait_for()
    problems = _watch(page)
    sign_in(page, email, PASSWORD)
    page.goto(f"/rounds/{found.id}/judge")

    page.keyboard.press("?")  # the keys
    page.locator("#help").get_by_text("Output 1 is better").wait_for()
    page.keyboard.press("Escape")
    page.locator("#help").wait_for(state="hidden")

    given: dict[int, tuple[str, str]] = {}  # prompt → (key, output 1's text)
    order: list[int] = []
    checked_verdicts = False
    for n in range(PROMPTS):
        prompt_id = _prompt(page)
        first = page.locator("#output-1 .judge-text").inner_text()
        if not checked_verdicts and page.locator("details[data-verdicts]").count():
            assert _verdicts_open(page) == [False, False]  # hidden until asked for
            page.keyboard.press("v")
            assert _verdicts_open(page) == [True, True]
            states = page.locator("details[data-verdicts] [data-state]")
            assert sorted(states.evaluate_all("els => els.map(e => e.dataset.state)")) == [
                "fail",
                "pass",
            ]
            page.keyboard.press("v")
            assert _verdicts_open(page) == [False, False]
            checked_verdicts = True
        key = "1234"[n % 4]
        if n == 1:
            # Typing a comment: its digits are text, Esc leaves the box, then the key sends it.
            page.locator("#judge-comment").focus()
            page.keyboard.type("Output 1 is too short")
            page.keyboard.press("Escape")
            assert _prompt(page) == prompt_id
        if n == 3:
            # A reason ticked with Space, then the number key sends it along.
            page.locator('input[name="reasons"][value="unsafe"]').focus()
            page.keyboard.press("Space")
        page.keyboard.press(key)
        _left(page, prompt_id)
        given[prompt_id] = (key, first)
        order.append(prompt_id)
    assert checked_verdicts, "no prompt with constraints came up"
    page.locator("#judge-done").wait_for()
    assert page.locator("#judge-done-count").inner_text() == "You gave 10 judgments in this round."
    # The manager's results refresh themselves (every 10 seconds) while the round runs.
    headline = watcher.locator("#results-headline")
    headline.wait_for(timeout=30_000)
    assert headline.inner_text().endswith("n = 10")

    # k walks back through the answers given, each one selected; j comes forward again.
    page.keyboard.press("k")
    page.wait_for_url(f"**/rounds/{found.id}/judge?prompt={order[-1]}")
    assert _pressed(page) == CHOICES[given[order[-1]][0]]
    page.keyboard.press("k")
    page.wait_for_url(f"**?prompt={order[-2]}")
    assert _pressed(page) == CHOICES[given[order[-2]][0]]
    page.keyboard.press("j")
    page.wait_for_url(f"**?prompt={order[-1]}")
    page.keyboard.press("k")
    page.wait_for_url(f"**?prompt={order[-2]}")
    # Changing an earlier answer: the key saves it and moves on to the prompt after it.
    page.keyboard.press("3")
    page.wait_for_url(f"**?prompt={order[-1]}")
    given[order[-2]] = ("3", given[order[-2]][1])

    db.rollback()
    judge = db.scalar(select(User).where(User.email == email))
    rows = {
        j.prompt_id: j
        for j in db.scalars(
            select(EvalJudgment).where(
                EvalJudgment.round_id == found.id, EvalJudgment.judge_id == judge.id
            )
        )
    }
    assert sorted(rows) == sorted(given)
    for prompt_id, (key, first) in given.items():
        first_system = "b" if first == BASE_OUTPUT else "a"  # system A is the tuned output
        other = "a" if first_system == "b" else "b"
        wanted = {"1": first_system, "2": other, "3": "tie", "4": "both_bad"}[key]
        row = rows[prompt_id]
        assert (row.verdict, row.swapped) == (wanted, first_system == "b"), prompt_id
    assert rows[order[1]].comment == "Output 1 is too short"
    assert rows[order[3]].reasons == ["unsafe"]
    assert not problems, problems

    # Closed, the round's verdict stands on the job's results page (system A is the tuned side).
    watcher.once("dialog", lambda dialog: dialog.accept())
    watcher.click("#close-round button")
    watcher.locator('#round-status[data-status="closed"]').wait_for()
    verdicts = [row.verdict for row in rows.values()]
    rate = 100 * (verdicts.count("a") + (verdicts.count("tie") + verdicts.count("both_bad")) / 2)
    watcher.goto(f"/jobs/{found.a_job_id}/results")
    verdict = watcher.locator("#human-verdict .verdict").inner_text()
    assert verdict.startswith(f"Tuned preferred on {rate / len(verdicts):.0f}% of prompts, 95% CI")
    assert "n = 10" in verdict


def test_rating_keys_rate_one_output_then_the_other(page, live, db):
    server, _ = live
    found, email = _setup(server, db, "Browser rating", mode="rating", limit=2)
    problems = _watch(page)
    sign_in(page, email, PASSWORD)
    page.goto(f"/rounds/{found.id}/judge")
    prompt_id = _prompt(page)
    first = page.locator("#output-1 .judge-text").inner_text()
    one, two = (page.locator(f"#output-{n}").bounding_box() for n in (1, 2))
    assert one["y"] == two["y"] and one["x"] < two["x"]  # side by side
    page.set_viewport_size({"width": 640, "height": 900})
    one, two = (page.locator(f"#output-{n}").bounding_box() for n in (1, 2))
    assert one["x"] == two["x"] and one["y"] < two["y"]  # stacked on a narrow screen
    assert "rating-now" in page.locator("#output-1").get_attribute("class")
    page.keyboard.press("4")
    assert "rating-now" in page.locator("#output-2").get_attribute("class")
    assert "rating-now" not in page.locator("#output-1").get_attribute("class")
    page.keyboard.press("c")  # output 2 is correct
    page.keyboard.press("2")
    _left(page, prompt_id)

    db.rollback()
    row = db.scalar(select(EvalJudgment).where(EvalJudgment.prompt_id == prompt_id))
    first_is_b = first == BASE_OUTPUT
    assert (row.rating_b, row.rating_a) == ((4, 2) if first_is_b else (2, 4))
    assert (row.correct_a if first_is_b else row.correct_b) is True
    assert row.verdict == ("b" if first_is_b else "a")
    assert not problems, problems
