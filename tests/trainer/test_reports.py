"""What the trainer sends stays within what the app accepts: long series go in several reports
within the protocol's row and byte limits, prediction texts are cut to their cap after scoring,
and NaN or infinite numbers from a diverged run are left out instead of refused."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from app.core import protocol
from app.core.kinds import ItemContent
from trainer import evaluate as trainer_evaluate
from trainer.client import AppClient, reports
from trainer.job import evaluate, summarise
from trainer.reporter import Reporter


class Recording(AppClient):
    """The real client's batching, with the HTTP calls recorded instead of sent."""

    def __init__(self) -> None:
        super().__init__("http://app.invalid", "st_test")
        self.sent: list[tuple[str, protocol.BaseModel]] = []

    def _post(self, path, body):
        body.model_validate(body.model_dump())  # what the app's schema would say
        self.sent.append((path, body))
        return SimpleNamespace(json=lambda: {"cancel": False, "lease_seconds": 120})


def _spec(**params) -> protocol.JobSpec:
    return protocol.JobSpec(
        job_id=7,
        attempt=1,
        dataset_version_id=1,
        base_model="tiny",
        params=protocol.JobParams(**params),
        lease_seconds=120,
        artifact_dir="/nonexistent",
    )


def test_reports_respect_rows_and_bytes():
    points = [
        protocol.DynamicsPoint(item_id=i, epoch=1, loss=1.0, confidence=0.5) for i in range(2500)
    ]
    chunks = list(reports(points, max_rows=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    assert [p for c in chunks for p in c] == points
    small = list(reports(points, max_rows=1000, max_bytes=10_000))
    assert all(sum(len(p.model_dump_json()) + 1 for p in c) <= 10_000 for c in small)
    assert [p for c in small for p in c] == points


def test_a_large_evaluation_goes_in_several_reports(monkeypatch):
    monkeypatch.setattr(trainer_evaluate, "generate", lambda *a, **k: ("y" * 30_000, None))
    monkeypatch.setattr(trainer_evaluate, "score", lambda item, text: {"f1": 0.5})
    items = [
        protocol.DatasetItem(
            item_id=i,
            revision=1,
            split="eval",
            content=ItemContent(kind="task", instruction="Say y.", output="y" * 25_000),
        )
        for i in range(1, 61)
    ]
    client = Recording()
    predictions = evaluate(client, _spec(), None, None, items, {i.item_id: "b" for i in items})
    batches = [body for path, body in client.sent if path.endswith("/predictions")]
    assert len(batches) > 1
    sent = [p for b in batches for p in b.predictions]
    assert [p.item_id for p in sent] == [i.item_id for i in items]
    for batch in batches:
        assert len(batch.predictions) <= protocol.MAX_PREDICTIONS
        assert len(batch.model_dump_json().encode()) <= protocol.REPORT_BYTES + 200
    cap = protocol.MAX_PREDICTION_CHARS
    assert all(len(p.tuned_output) == cap and len(p.reference) == cap for p in predictions)
    assert predictions[0].scores == {"base_f1": 0.5, "tuned_f1": 0.5}  # scored on the whole


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1e300])
def test_a_diverged_step_leaves_gaps_instead_of_failing(bad):
    client = Recording()
    reporter = Reporter(client, _spec(), None, None, [], [])
    reporter.start()
    values = {"loss": bad, "lr": 1e-3, "grad_norm": bad, "tokens": 10, "epoch": 0.1}
    reporter.on_step(1, {**values, "total_steps": 10})
    names = {p.name for path, body in client.sent if path.endswith("/metrics") for p in body.points}
    assert names == {"train/lr", "train/tokens", "train/epoch", "train/tokens_per_s"}


def test_a_summary_with_a_diverged_loss_still_completes():
    result = SimpleNamespace(losses=[1.0, math.nan], padding_fraction=0.1, step=2, model=None)
    summary = summarise(_spec(), result, None, [], [])
    assert summary["final_train_loss"] is None and summary["steps"] == 2
    protocol.Completion(attempt=1, metrics=summary)  # the app accepts it
