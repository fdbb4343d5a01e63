"""In the browser: a reviewer opens a job's results, clicks Improve on a tuned output that breaks
its prompt's no-comma rule, writes a better answer while its constraint check follows the
typing, saves with Ctrl+Enter and lands on the next output, with the draft pair made (their
answer chosen, the model's output rejected); Esc leaves the box, then goes back. A manager
makes pairs of a closed round in place, with the count following the rule, and opens its
outputs to improve."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.db import begin_for_write
from app.evaluation import rounds
from app.models import EvalPrediction, Item, Project
from tests.browser.conftest import sign_in
from tests.browser.test_annotation_keys import PASSWORD, _member
from tests.browser.test_judging_keys import _finished, _watch
from tests.eval_factories import make_round, reviewers
from tests.round_pair_factories import judge_each
from tests.test_judging_screen import constraint_job

pytestmark = pytest.mark.browser
BETTER = "Red and white and blue: a better answer"


def test_a_reviewer_improves_a_tuned_output_with_the_keyboard(page, live, db):
    server, _ = live
    db.commit()
    begin_for_write(db)  # the live server may be writing too
    project, admin, job = constraint_job(
        db, tasks=3, constrained=3, finish=_finished, name="Improve in the browser"
    )
    db.commit()
    email = _member(server, db, db.get(Project, project.id), "reviewer")
    problems = _watch(page)
    sign_in(page, email, PASSWORD)

    page.goto(f"/jobs/{job.id}/results")
    rows = page.locator("#prediction-table tr[data-item]")
    row = rows.filter(has=page.locator(".badge", has_text="constraint")).first
    item_id = int(row.get_attribute("data-item"))
    row.locator('a[data-improve-side="tuned"]').click()
    page.wait_for_url(f"**/jobs/{job.id}/predictions/{item_id}/improve?side=tuned")
    model = page.locator("#model-text").inner_text()
    assert model == "red, blue, and green"
    assert page.locator("#model-checks [data-state]").get_attribute("data-state") == "fail"

    # The box has the focus: typing goes there, and its check follows what is typed.
    page.keyboard.type("red, white")
    page.locator('#chosen-checks [data-state="fail"]').wait_for()
    page.keyboard.press("Control+A")
    page.keyboard.type(BETTER)
    page.locator('#chosen-checks [data-state="pass"]').wait_for()

    page.keyboard.press("Control+Enter")
    page.wait_for_url(lambda url: "saved=" in url)
    assert f"/jobs/{job.id}/predictions/" in page.url and f"/{item_id}/" not in page.url
    notice = page.locator("#improve-saved")
    notice.wait_for()
    pair_id = int(page.locator("#saved-pair").get_attribute("href").split("/")[2])
    assert notice.inner_text().startswith(f"Draft pair #{pair_id} saved.")

    db.rollback()
    pair = db.get(Item, pair_id)
    assert (pair.kind, pair.status, pair.origin) == ("preference", "draft", "improved")
    assert (pair.output, pair.rejected) == (BETTER, model)
    assert pair.provenance["system"] == f"{job.id}:tuned"
    assert pair.provenance["item_id"] == item_id
    assert db.scalar(
        select(EvalPrediction.id).where(
            EvalPrediction.job_id == job.id, EvalPrediction.item_id == item_id
        )
    )

    # Esc leaves the box (nothing is lost), a second Esc goes back to the results.
    page.locator("#chosen").focus()
    page.keyboard.type("half written")
    page.keyboard.press("Escape")
    assert page.url.endswith(f"saved={pair_id}")
    page.keyboard.press("Escape")
    page.wait_for_url(f"**/jobs/{job.id}/results")
    assert not problems, problems


def test_a_manager_makes_pairs_of_a_closed_round_as_a_task(page, live, db):
    server, _ = live
    db.commit()
    begin_for_write(db)
    project, admin, job = constraint_job(
        db, tasks=5, constrained=0, finish=_finished, name="Pairs in the browser"
    )
    people = reviewers(db, project, 2)
    found = make_round(db, project, admin, job, overlap=2, name="Judged round")

    def answer(index: int, position: int):
        # Prompt 1: both judges prefer A; prompt 2: A and a tie; the rest: ties.
        if position == 1 or (position == 2 and index == 0):
            return "a", ["incomplete"]
        return "tie", []

    judge_each(db, found, people, answer)
    rounds.close_round(db, found=found, actor=admin)
    db.commit()
    email = _member(server, db, db.get(Project, project.id), "admin")
    problems = _watch(page)
    sign_in(page, email, PASSWORD)

    page.goto(f"/rounds/{found.id}")
    preview = page.locator("#pairs-preview [data-pairs]")
    preview.wait_for()
    assert preview.get_attribute("data-pairs") == "1"
    page.select_option("#pairs-rule", "majority")
    page.fill("#pairs-min", "1")
    page.wait_for_function(
        "() => document.querySelector('#pairs-preview [data-count=\"no_winner\"]')"
        " && document.querySelector('#pairs-min').value === '1'"
    )
    page.click("#make-pairs-button")
    page.wait_for_url("**/tasks/*")  # a background task, its page following it
    outcome = page.locator(".task-done.pairs-outcome")
    outcome.wait_for()
    assert outcome.locator("[data-made]").get_attribute("data-made") == "1"

    outcome.locator("a[id^=task-result-]").click()
    page.wait_for_url(f"**/projects/{project.id}/items?origin=judged*")
    db.rollback()
    (pair,) = db.scalars(select(Item).where(Item.origin == "judged", Item.project_id == project.id))
    assert pair.provenance["votes"] == "2 of 2" and pair.provenance["reasons"] == ["incomplete"]
    page.locator(f'a[href="/items/{pair.id}/edit"]').first.wait_for()

    page.goto(f"/rounds/{found.id}")
    page.click("#improve-outputs")
    page.wait_for_url(f"**/rounds/{found.id}/outputs")
    page.locator(f'[data-judged-pair][href="/items/{pair.id}/edit"]').wait_for()
    page.locator('.round-output a[data-improve-side="a"]').first.click()
    page.wait_for_url(f"**/rounds/{found.id}/prompts/*/improve?side=a")
    page.locator("#chosen").wait_for()
    assert not problems, problems
