"""The statistics' histograms in Chromium: bins drawn in the order of their bounds, whatever
order the page's JSON (sorted as text) or PostgreSQL's JSONB gives their keys, and the demo
version's conversation charts with user and assistant turns side by side."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.datasets.statistics import LENGTH, TURNS
from tests.browser.conftest import ADMIN_PASSWORD, sign_in

pytestmark = pytest.mark.browser

LENGTH_BINS = "|".join(LENGTH.label(low) for low in LENGTH.bounds)
TURN_BINS = "|".join(TURNS.label(low) for low in TURNS.bounds)


def drawn_bins(chart) -> str:
    """The bins a histogram was drawn with, in order, once it is drawn."""
    expect(chart.locator("canvas")).to_have_count(1)
    return chart.get_attribute("data-bins")


@pytest.mark.parametrize("where", ["version", "project"])
def test_histograms_are_drawn_in_bin_order(page, demo, where):
    assert LENGTH_BINS.startswith("0–9|10–24|25–49|50–99|100–199")  # not the text order
    sign_in(page, "admin@example.org", ADMIN_PASSWORD)
    page.goto(f"/datasets/{demo.version_id}" if where == "version" else
              f"/projects/{demo.project_id}/stats")  # fmt: skip
    length_charts = page.locator(".hist-chart:not([data-hists]):not(#turns-chart)")
    expect(length_charts).to_have_count(2)  # words and model tokens
    for index in range(2):
        assert drawn_bins(length_charts.nth(index)) == LENGTH_BINS
    turns = drawn_bins(page.locator("#turns-chart"))
    assert turns == "2|4|6|8|10–12|14–18|20–38|40+" == TURN_BINS
    assert drawn_bins(page.locator("#turn-tokens-chart")) == LENGTH_BINS
    # Two series side by side, named in the legend: user turns, then assistant turns.
    legend = page.locator("#turn-tokens-chart .u-legend .u-series .u-label")
    expect(legend).to_have_text(["Tokens", "user", "assistant"])
