"""The job results page and API show people's verdict beside the automatic metrics."""

from __future__ import annotations

from app.core.judging_stats import wilson_interval
from app.evaluation import rounds
from tests.eval_factories import finished_job, judge_all, make_round, reviewers
from tests.factories import join, make_user
from tests.helpers import login


def test_the_verdict_of_a_closed_round_is_shown_from_the_tuned_side(client, db_session):
    project, admin, job = finished_job(db_session)
    # Base is system A here: the page must still speak of the tuned outputs.
    found = make_round(db_session, project, admin, job, a=f"{job.id}:base", b=f"{job.id}:tuned")
    judges = reviewers(db_session, project, 1)
    judge_all(db_session, found, judges, lambda judge, position: "b" if position % 4 else "tie")
    n = rounds.judgment_count(db_session, found.id)
    ties = len([p for p in range(1, n + 1) if p % 4 == 0])
    wins = n - ties
    manager = make_user(db_session)
    join(db_session, project, manager, role="manager")
    login(client, manager.email)

    page = client.get(f"/jobs/{job.id}/results").text
    assert "No closed round has compared" in page  # still open: nothing shown yet
    rounds.close_round(db_session, found=found, actor=admin)
    db_session.flush()
    page = client.get(f"/jobs/{job.id}/results").text
    low, high = wilson_interval(wins + ties / 2, n)
    rate = 100 * (wins + ties / 2) / n
    expected = (
        f"Tuned preferred on {rate:.0f}% of prompts, 95% CI {100 * low:.0f}–{100 * high:.0f}%, "
        f"n = {n}"
    )
    assert expected in page
    assert f"/rounds/{found.id}" in page

    body = client.get(f"/api/v1/jobs/{job.id}/results").json()
    (verdict,) = body["human_verdicts"]
    assert (verdict["wins"], verdict["ties"], verdict["losses"], verdict["n"]) == (wins, ties, 0, n)
    assert verdict["interval"] == [low, high]
