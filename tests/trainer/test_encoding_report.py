"""What encoding the training items cut or dropped reaches the job page: the training loop hands
the counts to the reporter, the reporter sends them as ``data/…`` metrics (and a log line), and
the app's services store them for the page's "Training data:" line."""

from __future__ import annotations

from dataclasses import fields

from app.core import protocol
from app.jobs import queue
from app.jobs import service as jobs
from tests.helpers import login
from tests.job_factories import project_version, worker_token
from trainer.data import EncodeStats, encode_all
from trainer.reporter import Reporter, data_points
from trainer.train import train

from .conftest import load_model
from .test_conversation_eval import Recording
from .test_conversation_masks import ENGLISH, NO_SYSTEM, first_turns


def test_every_count_has_its_metric():
    assert {f"data/{f.name}" for f in fields(EncodeStats)} == set(protocol.DATA_METRICS)
    points = data_points(EncodeStats(truncated_at_turn=3, dropped=1))
    assert {p.name: p.value for p in points} == {
        "data/truncated_at_turn": 3.0,
        "data/truncated": 0.0,
        "data/dropped": 1.0,
        "data/prefix_mismatches": 0.0,
    }
    assert {p.step for p in points} == {0}


def test_training_hands_the_counts_to_its_listener(tiny_dir, tokenizer, items):
    limit = len(encode_all(tokenizer, [first_turns(ENGLISH, 2)], max_seq_len=10_000)[0][0])
    heard: list[EncodeStats] = []
    params = protocol.JobParams(method="full", max_steps=1, batch_size=2, max_seq_len=limit)
    train(
        load_model(tiny_dir), tokenizer, [*items, ENGLISH, ENGLISH], params, on_encoded=heard.append
    )
    assert heard == [EncodeStats(truncated_at_turn=2)]


def _running_job(session):
    project, admin, version = project_version(session, name="Encoding counts")
    job = jobs.launch(
        session=session,
        version_id=version.id,
        base_model="tiny",
        params=protocol.JobParams(max_steps=4, max_seq_len=40),
        actor=admin,
    )
    session.flush()
    token = worker_token(session)
    claimed = queue.claim(session=session, worker="test-host:1", token_id=token)
    assert claimed is not None and claimed.id == job.id
    return admin, job, claimed.attempts, token


def _report(session, job, attempt, token, stats: EncodeStats) -> Recording:
    """What a worker's reporter sends for ``stats``, through the app's services."""
    client = Recording()
    spec = protocol.JobSpec(
        job_id=job.id,
        attempt=attempt,
        dataset_version_id=job.dataset_version_id,
        base_model="tiny",
        params=protocol.JobParams(max_seq_len=40),
        lease_seconds=120,
        artifact_dir="/nonexistent",
    )
    Reporter(client, spec, None, None, [], []).on_encoded(stats)
    for path, body in client.sent:
        if path.endswith("/metrics"):
            queue.record_metrics(session=session, job_id=job.id, batch=body, token_id=token)
        elif path.endswith("/logs"):
            queue.record_logs(session=session, job_id=job.id, batch=body, token_id=token)
    session.flush()
    return client


def test_the_job_page_shows_what_encoding_cut(client, db_session, tokenizer):
    admin, job, attempt, token = _running_job(db_session)
    two = len(encode_all(tokenizer, [first_turns(ENGLISH, 2)], max_seq_len=10_000)[0][0])
    # Two long conversations lose their last exchange; one whose system prompt alone is too
    # long is dropped; the short one fits.
    long_system = ENGLISH.model_copy(update={"system": "Be kind. " * 80})
    _, stats = encode_all(tokenizer, [ENGLISH, ENGLISH, long_system, NO_SYSTEM], max_seq_len=two)
    assert stats == EncodeStats(truncated_at_turn=2, dropped=1)
    sent = _report(db_session, job, attempt, token, stats)
    assert any(path.endswith("/logs") for path, _ in sent.sent)

    login(client, admin.email)
    page = client.get(f"/jobs/{job.id}")
    assert page.status_code == 200
    line = page.text.split('id="job-data-counts">')[1].split("</p>")[0]
    assert " ".join(line.split()) == (
        "Training data: 2 examples truncated at a turn boundary, "
        "1 dropped (longer than the max length)"
    )
    assert "encoding: 2 examples truncated at a turn boundary" in page.text  # the log line
    live = client.get(f"/jobs/{job.id}/live", headers={"HX-Request": "true"})
    assert 'id="job-data-counts"' in live.text


def test_nothing_cut_shows_no_line(client, db_session):
    admin, job, attempt, token = _running_job(db_session)
    sent = _report(db_session, job, attempt, token, EncodeStats())
    assert [path for path, _ in sent.sent if path.endswith("/logs")] == []
    login(client, admin.email)
    page = client.get(f"/jobs/{job.id}")
    assert page.status_code == 200 and 'id="job-data-counts"' not in page.text
