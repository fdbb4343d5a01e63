"""In the browser: an import and a dataset freeze run as background tasks. The page that
starts one comes back at once and shows a progress bar; the import's page fills in its report
when the task ends, and the freeze's task page leads on to the new version by itself. The
project's task list shows both."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from playwright.sync_api import expect

from app.db import begin_for_write
from tests.browser.conftest import ADMIN_PASSWORD, sign_in
from tests.dataset_factories import approved_project

pytestmark = pytest.mark.browser
_seq = itertools.count(1)
ROWS = 40


def test_an_import_and_a_freeze_run_in_the_background(page, db, tmp_path):
    db.commit()
    begin_for_write(db)  # the live server may be writing too
    project, _admin, created = approved_project(db, name=f"Background {next(_seq)}")
    db.commit()
    sign_in(page, "admin@example.org", ADMIN_PASSWORD)

    upload = tmp_path / "background.jsonl"
    upload.write_text(
        "\n".join(
            json.dumps({"instruction": f"Name a prime above {i}.", "output": "A prime."})
            for i in range(ROWS)
        )
    )
    page.goto(f"/projects/{project.id}/imports")
    page.set_input_files("#file", str(upload))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/imports/\d+$"))
    page.select_option("#status", "submitted")
    page.click("#import-start")
    page.wait_for_url(re.compile(r"/imports/\d+$"))
    expect(page.locator("#import-done")).to_contain_text(f"Imported {ROWS} items.")

    page.goto(f"/projects/{project.id}/datasets")
    page.fill("#v-name", "background-v1")
    page.fill("#v-eval", "0")
    page.click("#version-form button[type=submit]")
    # The task page polls, then leads on to the version once it is frozen.
    page.wait_for_url(re.compile(r"/datasets/\d+$"))
    expect(page.locator("#train-count")).to_have_text(str(len(created)))

    page.goto(f"/projects/{project.id}/tasks")
    rows = page.locator("#task-list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#task-list .task-done")).to_have_count(2)
    expect(page.locator("#task-list")).to_contain_text("background-v1")
