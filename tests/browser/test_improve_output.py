"""In the browser: a reviewer opens a job's results, clicks Improve on a tuned output that breaks
its prompt's no-comma rule, writes a better answer while its constraint check follows the
typing, saves with Ctrl+Enter and lands on the next output, with the draft pair made (their
answer chosen, the model's output rejected); Esc leaves the box, then goes back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.db import begin_for_write
from app.models import EvalPrediction, Item, Project
from tests.browser.conftest import sign_in
from tests.browser.test_annotation_keys import PASSWORD, _member
from tests.browser.test_judging_keys import _finished, _watch
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
