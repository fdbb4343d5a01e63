"""A DPO job as people follow it: the live page's curves of rewards, margin and accuracy, its
results (the starting model against the tuned one on the eval pairs) on the page, in the API
and on the compare page, and the list naming each job's objective and where it started."""

from __future__ import annotations

import json
import re

import pytest

from tests.api_helpers import member
from tests.factories import join, make_user
from tests.helpers import login
from tests.job_factories import run_job
from tests.pair_factories import (
    DPO_COMPLETION,
    dpo_points,
    model_folder,
    pairs_version,
    run_dpo_job,
)

DPO_SERIES = {
    f"{split}/{name}"
    for split in ("train", "eval")
    for name in ("loss", "rewards_chosen", "rewards_rejected", "reward_margin", "reward_accuracy")
}


@pytest.fixture
def ran(db_session, settings):
    """An SFT job that succeeded (its model stored) and a DPO job that continued from it:
    (project, sft job, dpo job)."""
    project, admin, version = pairs_version(db_session, "DPO pages")
    sft, _ = run_job(db_session, version, admin)
    model_folder(settings, sft)
    dpo, _ = run_dpo_job(
        db_session,
        version,
        admin,
        start_job_id=sft.id,
        artifacts_root=settings.resolved_artifacts_dir,
    )
    return project, sft, dpo


def _reviewer(client, db_session, project):
    user = make_user(db_session, role="reviewer")
    join(db_session, project, user)
    return login(client, user.email)


class TestLive:
    def test_the_chart_data_carries_the_dpo_series(self, client, db_session, ran):
        project, _, dpo = ran
        _reviewer(client, db_session, project)
        fragment = client.get(f"/jobs/{dpo.id}/live", headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        data = json.loads(re.search(r'id="job-series">(.*?)</script>', fragment.text).group(1))
        assert set(data) >= DPO_SERIES
        assert data["x"] == [1, 2, 3, 4]
        reported = {p.step: p.value for p in dpo_points() if p.name == "train/reward_accuracy"}
        assert data["train/reward_accuracy"] == [reported[s] for s in data["x"]]
        assert data["eval/reward_margin"] == [None, 0.4, None, 0.8]  # every second step
        # The live summary: the latest reward accuracy and margin, train and eval.
        assert re.search(r'id="job-reward-accuracy">100%<', fragment.text)
        assert re.search(r'id="job-reward-margin">\+0.800<', fragment.text)

    def test_the_page_plots_rewards_margin_and_accuracy(self, client, db_session, ran):
        project, sft, dpo = ran
        _reviewer(client, db_session, project)
        page = client.get(f"/jobs/{dpo.id}").text
        for chart, series in (
            ("rewards-chart", ["train/rewards_chosen", "train/rewards_rejected",
                               "eval/rewards_chosen", "eval/rewards_rejected"]),
            ("margin-chart", ["train/reward_margin", "eval/reward_margin"]),
            ("accuracy-chart", ["train/reward_accuracy", "eval/reward_accuracy"]),
            ("loss-chart", ["train/loss", "eval/loss"]),
        ):  # fmt: skip
            tag = re.search(rf'<div id="{chart}"[^>]*>', page).group(0)
            assert json.loads(re.search(r"data-series='([^']*)'", tag).group(1)) == series
        assert re.search(r'id="job-objective">DPO<', page)
        start = re.search(r'<span id="job-start">(.*?)</span>', page, re.S).group(1)
        assert f'href="/jobs/{sft.id}"' in start and f"job #{sft.id}" in start
        # The job it started from names the jobs that continue from it; SFT has no DPO charts.
        parent = client.get(f"/jobs/{sft.id}").text
        assert f'continued by <a href="/jobs/{dpo.id}">' in parent
        assert 'id="rewards-chart"' not in parent and 'id="job-reward-accuracy"' not in parent


class TestResults:
    def test_the_page_shows_the_eval_pair_figures(self, client, db_session, ran):
        project, _, dpo = ran
        _reviewer(client, db_session, project)
        page = client.get(f"/jobs/{dpo.id}/results")
        assert page.status_code == 200
        summary = re.search(r'id="preference-summary">(.*?)</p>', page.text, re.S).group(1)
        assert " ".join(summary.split()) == (
            "The tuned model prefers the chosen response on 92% of the eval pairs (starting "
            "model: 55%), mean log-probability margin +3.1 (starting: +0.2); reward accuracy "
            "95%, reward margin +2.40."
        )
        table = re.search(r'id="preference-table">.*?</table>', page.text, re.S).group(0)
        row = re.search(r'data-metric="pair_accuracy">(.*?)</tr>', table, re.S).group(1)
        assert re.findall(r'<td class="num[^"]*">([^<]*)</td>', row) == ["55%", "92%", "+37"]
        assert 'id="prediction-table"' in page.text  # the usual generations on eval prompts
        # Its eval loss is the DPO loss on the eval pairs, which has no perplexity.
        assert "<td>DPO loss on the eval pairs</td>" in page.text
        assert re.search(r'id="perplexity">—<', page.text)

    def test_an_sft_job_shows_none(self, client, db_session, ran):
        project, sft, _ = ran
        _reviewer(client, db_session, project)
        assert 'id="preference-results"' not in client.get(f"/jobs/{sft.id}/results").text

    def test_the_api_carries_them_typed(self, client, db_session, ran):
        project, sft, dpo = ran
        headers = member(db_session, project, "reviewer")
        body = client.get(f"/api/v1/jobs/{dpo.id}/results", headers=headers).json()
        assert (body["objective"], body["start_job_id"]) == ("dpo", sft.id)
        figures = {k: v for k, v in DPO_COMPLETION.items() if k not in ("eval_loss", "steps")}
        assert body["preference"] == figures
        assert isinstance(body["preference"]["pairs_eval"], int)
        plain = client.get(f"/api/v1/jobs/{sft.id}/results", headers=headers).json()
        assert (plain["objective"], plain["preference"]) == ("sft", None)
        job = client.get(f"/api/v1/jobs/{dpo.id}", headers=headers).json()
        assert job["start_job_id"] == sft.id and job["params"]["objective"] == "dpo"
        series = client.get(f"/api/v1/jobs/{dpo.id}/metrics", headers=headers).json()
        assert set(series) >= DPO_SERIES

    def test_a_partial_report_shows_what_it_has(self, client, db_session, settings):
        project, admin, version = pairs_version(db_session, "Partial")
        job, _ = run_dpo_job(db_session, version, admin, metrics={"tuned_pair_accuracy": 0.5})
        _reviewer(client, db_session, project)
        summary = re.search(
            r'id="preference-summary">(.*?)</p>', client.get(f"/jobs/{job.id}/results").text, re.S
        ).group(1)
        assert "on 50% of the eval pairs (starting model: —)" in summary


class TestListAndCompare:
    def test_the_list_names_the_objective_and_the_start(self, client, db_session, ran):
        project, sft, dpo = ran
        _reviewer(client, db_session, project)
        page = client.get("/jobs").text
        row = page.split(f'data-job="{dpo.id}"')[1].split("</tr>")[0]
        assert 'data-objective="dpo">DPO<' in row
        assert f'continues from <a href="/jobs/{sft.id}">job #{sft.id}</a>' in row
        other = page.split(f'data-job="{sft.id}"')[1].split("</tr>")[0]
        assert 'data-objective="sft">SFT<' in other and "continues from" not in other

    def test_compare_shows_the_dpo_figures(self, client, db_session, ran):
        project, sft, dpo = ran
        _reviewer(client, db_session, project)
        page = client.get("/jobs/compare", params={"ids": [sft.id, dpo.id]}).text
        row = re.search(r'data-metric="tuned_pair_accuracy">(.*?)</tr>', page, re.S).group(1)
        assert re.findall(r'<td class="num">([^<]*)</td>', row) == ["—", "92.0%"]
        objective = re.search(r'data-param="objective">(.*?)</tr>', page, re.S).group(1)
        assert "SFT" in objective and "DPO" in objective and f"#{sft.id}" in objective
