"""A worker cannot break the app with what it reports. NaN, infinite and absurd numbers,
oversize texts and overlong lists are answered 4xx with a sentence (not 500), nothing of the
report is kept, and the charts' JSON never carries NaN, even for values stored before these
checks."""

from __future__ import annotations

import json
import math
import re

import pytest
from sqlalchemy import func, insert, select, update

from app.core import protocol
from app.core.job_paths import WorkerPath
from app.datasets import versions
from app.models import EvalPrediction, ItemDynamics, Job, JobMetric
from tests.dataset_factories import approved_project
from tests.factories import join, make_user
from tests.helpers import login
from tests.job_factories import WorkerApi, error_sentence


@pytest.fixture
def running(client, db_session):
    api = WorkerApi(client, db_session)
    job_id = api.launched()
    worker = api.worker()
    api.claim(worker)
    pinned = list(versions.pinned(db_session, api.version.id))
    train = [link.item_id for link, _ in pinned if link.split == "train"]
    evaluated = [link.item_id for link, _ in pinned if link.split == "eval"]
    return api, worker, job_id, train, evaluated


def _refused(response, status=422) -> str:
    assert response.status_code == status, response.text
    sentence = error_sentence(response)
    assert re.search(r"[a-z]{3,} [a-z]{2,}", sentence), sentence  # words, not a code
    return sentence


def _count(session, table, job_id) -> int:
    return session.scalar(select(func.count()).select_from(table).filter_by(job_id=job_id))


def test_non_finite_or_huge_metric_values_are_refused(running, db_session):
    api, worker, job_id, _train, _eval = running
    for value in ("NaN", "Infinity", "-Infinity", "1e308", "-1e300", "1e999"):
        body = (
            '{"attempt": 1, "points": [{"step": 1, "name": "train/loss", "value": 1.5}, '
            f'{{"step": 2, "name": "train/loss", "value": {value}}}]}}'
        )
        sentence = _refused(api.post(WorkerPath.METRICS, worker, job_id, body))
        assert "points.1.value" in sentence, value
    assert _count(db_session, JobMetric, job_id) == 0


BAD_PROGRESS = [
    (WorkerPath.HEARTBEAT, '{"attempt": 1, "step": 1, "epoch": Infinity}'),
    (WorkerPath.HEARTBEAT, '{"attempt": 1, "step": 1, "epoch": NaN}'),
    (WorkerPath.HEARTBEAT, '{"attempt": 1, "step": 99999999999}'),
    (WorkerPath.COMPLETE, '{"attempt": 1, "metrics": {"eval_loss": NaN}}'),
    (WorkerPath.COMPLETE, '{"attempt": 1, "metrics": {"steps": 1e308}}'),
    (WorkerPath.COMPLETE, '{"attempt": 1, "metrics": {"steps": Infinity}}'),
    (WorkerPath.COMPLETE, '{"attempt": 1, "metrics": {"steps": 2.5}}'),
    (WorkerPath.COMPLETE, '{"attempt": 1, "metrics": {"per_kind": {"task": -Infinity}}}'),
    (WorkerPath.CANCELLED, '{"attempt": 1, "step": 1e308}'),
]


def test_non_finite_progress_and_results_are_refused(running, db_session):
    api, worker, job_id, _train, _eval = running
    db_session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    for path, body in BAD_PROGRESS:
        _refused(api.post(path, worker, job_id, body))
    db_session.expire_all()
    job = db_session.get(Job, job_id)
    assert (job.status, job.step, job.epoch, job.metrics) == ("running", 0, 0.0, {})


def _dynamics(item_id: int, loss="1.0", n: int = 1) -> str:
    point = f'{{"item_id": {item_id}, "epoch": 1, "loss": {loss}, "confidence": 0.5}}'
    return f'{{"attempt": 1, "points": [{", ".join([point] * n)}]}}'


def test_non_finite_dynamics_are_refused(running, db_session):
    api, worker, job_id, train, _eval = running
    for loss in ("NaN", "Infinity", "1e308"):
        _refused(api.post(WorkerPath.DYNAMICS, worker, job_id, _dynamics(train[0], loss)))
    assert _count(db_session, ItemDynamics, job_id) == 0


def test_too_many_dynamics_points_are_refused(running, db_session):
    api, worker, job_id, train, _eval = running
    body = _dynamics(train[0], n=protocol.MAX_DYNAMICS_POINTS + 1)
    _refused(api.post(WorkerPath.DYNAMICS, worker, job_id, body))
    assert _count(db_session, ItemDynamics, job_id) == 0


def _prediction(item_id: int, **overrides) -> dict:
    return {
        "item_id": item_id,
        "kind": "task",
        "reference": "r",
        "base_output": "b",
        "tuned_output": "t",
        "scores": {"tuned_f1": 1.0},
        **overrides,
    }


def test_an_oversize_prediction_text_is_refused(running, db_session):
    api, worker, job_id, _train, evaluated = running
    for field in ("reference", "base_output", "tuned_output"):
        huge = _prediction(evaluated[0], **{field: "x" * (protocol.MAX_PREDICTION_CHARS + 1)})
        body = {"attempt": 1, "predictions": [huge]}
        assert field in _refused(api.post(WorkerPath.PREDICTIONS, worker, job_id, body))
    assert _count(db_session, EvalPrediction, job_id) == 0


def test_too_many_predictions_or_scores_are_refused(running, db_session):
    api, worker, job_id, _train, evaluated = running
    many = {
        "attempt": 1,
        "predictions": [_prediction(evaluated[0])] * (protocol.MAX_PREDICTIONS + 1),
    }
    _refused(api.post(WorkerPath.PREDICTIONS, worker, job_id, many))
    scores = {f"s{i}": 0.5 for i in range(protocol.MAX_SCORES + 1)}
    crowded = [_prediction(evaluated[0], scores=scores)]
    body = {"attempt": 1, "predictions": crowded}
    _refused(api.post(WorkerPath.PREDICTIONS, worker, job_id, body))
    nan_score = json.dumps(_prediction(evaluated[0])).replace("1.0", "NaN")
    raw = f'{{"attempt": 1, "predictions": [{nan_score}]}}'
    _refused(api.post(WorkerPath.PREDICTIONS, worker, job_id, raw))
    assert _count(db_session, EvalPrediction, job_id) == 0


def test_an_overlong_log_line_or_kind_is_refused(running):
    api, worker, job_id, _train, evaluated = running
    line = "x" * (protocol.MAX_LOG_LINE_CHARS + 1)
    _refused(api.post(WorkerPath.LOGS, worker, job_id, {"attempt": 1, "lines": [line]}))
    strange = _prediction(evaluated[0], kind="k" * 17)
    body = {"attempt": 1, "predictions": [strange]}
    _refused(api.post(WorkerPath.PREDICTIONS, worker, job_id, body))


def test_items_of_another_project_are_refused(running, db_session):
    """Dynamics and predictions name the items of the job's own dataset version only."""
    api, worker, job_id, _train, _eval = running
    _other, _admin, created = approved_project(db_session, name="Someone else's")
    stranger = created[0].id
    sentence = _refused(api.post(WorkerPath.DYNAMICS, worker, job_id, _dynamics(stranger)))
    assert f"#{stranger}" in sentence
    body = {"attempt": 1, "predictions": [_prediction(stranger)]}
    _refused(api.post(WorkerPath.PREDICTIONS, worker, job_id, body))
    missing = {"attempt": 1, "predictions": [_prediction(2**31 - 2)]}
    _refused(api.post(WorkerPath.PREDICTIONS, worker, job_id, missing))
    assert _count(db_session, ItemDynamics, job_id) == 0
    assert _count(db_session, EvalPrediction, job_id) == 0


def _strict(text: str):
    """JSON as a browser's JSON.parse reads it: NaN and Infinity are errors."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_stored_non_finite_values_never_reach_the_charts_json(running, db_session, backend):
    """Values stored before the checks existed (inserted here behind the API's back)."""
    api, _worker, job_id, _train, _eval = running
    bad = [math.inf, -math.inf, 1e300] + ([math.nan] if backend == "postgresql" else [])
    rows = [{"step": 1, "name": "train/loss", "value": 2.0}]
    rows += [{"step": i + 2, "name": "train/loss", "value": v} for i, v in enumerate(bad)]
    rows += [{"step": 3, "name": "eval/loss", "value": math.inf}]
    db_session.execute(insert(JobMetric), [{"job_id": job_id, "attempt": 1, **r} for r in rows])
    db_session.execute(update(Job).where(Job.id == job_id).values(epoch=math.inf))
    if backend == "sqlite":  # PostgreSQL's JSON refuses NaN itself
        db_session.execute(
            update(Job).where(Job.id == job_id).values(metrics={"eval_loss": math.nan})
        )
    series = api.client.get(f"/api/v1/jobs/{job_id}/metrics", headers=api.admin)
    assert series.status_code == 200
    gaps = [[i + 2, None] for i in range(len(bad))]
    assert _strict(series.text)["train/loss"] == [[1, 2.0], *gaps]
    job = api.client.get(f"/api/v1/jobs/{job_id}", headers=api.admin)
    assert job.status_code == 200 and _strict(job.text)["epoch"] == 0.0
    reviewer = make_user(db_session, role="reviewer")
    join(db_session, api.project, reviewer)
    login(api.client, reviewer.email)
    page = api.client.get(f"/jobs/{job_id}")
    assert page.status_code == 200
    chart = _strict(re.search(r'id="job-series">(.*?)</script>', page.text, re.S).group(1))
    assert chart["train/loss"] == [2.0] + [None] * len(bad)
    assert all(value is None for value in chart["eval/loss"])
    other = api.launched()
    compare = api.client.get("/jobs/compare", params={"ids": [job_id, other]})
    assert compare.status_code == 200
    data = re.search(r'id="compare-series">(.*?)</script>', compare.text, re.S).group(1)
    _strict(data)
