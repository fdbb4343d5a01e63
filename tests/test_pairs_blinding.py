"""A pair's provenance says which system wrote its outputs; to someone who may judge an open
round of that job it says nothing, on the pages and in the API, so no draft unblinds a judge."""

from __future__ import annotations

from sqlalchemy import select

from app.evaluation import rounds
from app.models import EvalPrediction
from app.pairs import improve, sources
from tests.eval_factories import finished_job, make_round, reviewers
from tests.helpers import login


def test_a_judge_of_an_open_round_is_not_told_which_system_wrote_a_pair(client, db_session):
    project, admin, job = finished_job(db_session, items=6, name="Blind pairs")
    first = db_session.scalars(
        select(EvalPrediction).where(EvalPrediction.job_id == job.id).order_by(EvalPrediction.id)
    ).first()
    source = sources.job_source(db_session, job=job, item_id=first.item_id, side="tuned")
    pair = improve.improve(db_session, source=source, chosen="A better answer.", actor=admin)
    (judge,) = reviewers(db_session, project, 1)
    found = make_round(db_session, project, admin, job)  # every reviewer of the project judges
    db_session.commit()

    login(client, judge.email)
    pages = [f"/items/{pair.id}/edit", f"/items/{pair.id}/review"]
    api = f"/api/v1/items/{pair.id}"
    listed = f"/api/v1/projects/{project.id}/items?origin=improved"
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, (url, page.status_code)
        assert 'data-source="system"' not in page.text and f"{job.id}:tuned" not in page.text
    assert client.get(api).json()["provenance"] == {}
    assert [i["provenance"] for i in client.get(listed).json()["items"]] == [{}]
    assert rounds.blinds_provenance(db_session, item=pair, user=judge)

    # The manager who judges nothing, and everyone once the round closes, are told.
    assert not rounds.blinds_provenance(db_session, item=pair, user=admin)
    rounds.close_round(db_session, found=found, actor=admin)
    db_session.commit()
    page = client.get(f"/items/{pair.id}/edit")
    assert 'data-source="system"' in page.text and f"{job.id}:tuned" in page.text
    assert client.get(api).json()["provenance"]["system"] == f"{job.id}:tuned"
