"""The preference pairs' statistics in Chromium, on the demo version (which holds pairs): the
share of pairs whose chosen response is longer, and the chosen and rejected lengths drawn side
by side in the order of their bins."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.datasets.statistics import LENGTH
from tests.browser.conftest import ADMIN_PASSWORD, sign_in

pytestmark = pytest.mark.browser


def test_the_length_bias_and_the_chosen_and_rejected_lengths(page, demo, tmp_path):
    sign_in(page, "admin@example.org", ADMIN_PASSWORD)
    page.goto(f"/datasets/{demo.version_id}")
    expect(page.locator("#chosen-longer-share")).to_have_text(re.compile(r"^\d{1,3}%$"))
    expect(page.locator("#chosen-longer")).to_contain_text("a model can learn length")
    chart = page.locator("#pair-length-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    assert chart.get_attribute("data-bins") == "|".join(LENGTH.label(low) for low in LENGTH.bounds)
    legend = chart.locator(".u-legend .u-series .u-label")
    expect(legend).to_have_text(["Words", "Chosen", "Rejected"])
    expect(page.locator("#pair-difference .bar-row")).to_have_count(7)
    page.locator("#pair-statistics").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "pairs.png"), full_page=True)
