"""A worker killed mid-job loses its lease, and a second worker (with a token of its own)
resumes from the last reported checkpoint and finishes; a cancelled job stops at the worker's
next step and keeps a checkpoint. Real app over loopback HTTP, real worker processes, the tiny
model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import migrate
from app.core.protocol import JobParams
from app.db import begin_for_write, make_engine
from app.jobs import service as jobs
from app.models import Job, JobLog, JobMetric
from app.models.base import utcnow
from app.tokens import service as tokens
from tests.conftest import live_backend
from tests.dbs import fresh_database
from tests.job_factories import queued_job
from tests.live_server import Server

pytestmark = pytest.mark.live

LONG_JOB = JobParams(
    method="full",
    max_steps=240,
    batch_size=1,
    packing=False,
    learning_rate=1e-3,
    checkpoint_interval=10,
    eval_interval=100_000,
    generation={"max_new_tokens": 4},
)


@pytest.fixture
def live_job(tmp_path):
    """A queued long tiny job, a worker token and a running app; yields what tests need."""
    with fresh_database(live_backend(), tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            _version, admin, job, token = queued_job(session, LONG_JOB, name="Recovery")
        env = {
            **os.environ,
            "STUDIO_DATABASE_URL": url,
            "STUDIO_VAR_DIR": str(tmp_path / "var"),
            "STUDIO_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
            "HF_HUB_OFFLINE": "1",
            "STUDIO_HEARTBEAT_SECONDS": "0.2",
        }
        server = Server(env, tmp_path, command="serve")
        try:
            server.wait()
            yield {
                "engine": engine,
                "job_id": job.id,
                "admin": admin,
                "env": env,
                "url": server.url,
                "token": token,
            }
        finally:
            server.stop()
            engine.dispose()


def _worker(ctx, *extra):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainer",
            "--url",
            ctx["url"],
            "--token",
            ctx["token"],
            "--poll",
            "0.3",
            *extra,
        ],
        env=ctx["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _job(ctx) -> Job:
    with Session(ctx["engine"], expire_on_commit=False) as session:
        return session.get(Job, ctx["job_id"])


def _wait_for(predicate, what: str, worker=None, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if worker is not None and worker.poll() is not None:
            raise AssertionError(f"worker exited before {what}: {worker.stdout.read()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_worker_is_replaced_and_the_job_resumes(live_job):
    ctx = live_job
    first = _worker(ctx, "--once")
    try:
        _wait_for(lambda: (j := _job(ctx)).checkpoint and j.step >= 40, "a checkpoint", first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    killed_at = _job(ctx)
    assert killed_at.status == "running" and killed_at.step < LONG_JOB.max_steps
    resume_step = int(killed_at.checkpoint.rsplit("step-", 1)[1])
    # The lease runs out (two minutes in production; here we move the clock on).
    with Session(ctx["engine"]) as session:
        session.execute(
            update(Job)
            .where(Job.id == ctx["job_id"])
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    with Session(ctx["engine"]) as session:
        rescuer = tokens.create_token(
            session=session, name="rescuer", scope="worker", owner=None, actor=None
        )
        rescuer_id, rescuer_raw = rescuer.token.id, rescuer.raw
        session.commit()
    second = _worker({**ctx, "token": rescuer_raw}, "--once")
    output, _ = second.communicate(timeout=300)
    done = _job(ctx)
    assert done.status == "succeeded", (done.error, output[-3000:])
    assert done.attempts == 2 and done.step == LONG_JOB.max_steps
    assert done.claim_token_id == rescuer_id  # the second token took the job over
    with Session(ctx["engine"]) as session:
        first_step_again = session.scalar(
            select(func.min(JobMetric.step)).where(
                JobMetric.job_id == done.id, JobMetric.attempt == 2, JobMetric.name == "train/loss"
            )
        )
        lines = session.scalars(select(JobLog.line).where(JobLog.job_id == done.id)).all()
    assert first_step_again == resume_step + 1  # nothing before the checkpoint is redone
    assert any(line.startswith("resuming from") and f"step-{resume_step}" in line for line in lines)


def test_cancel_stops_the_worker_and_keeps_a_checkpoint(live_job):
    ctx = live_job
    worker = _worker(ctx, "--once")
    try:
        _wait_for(lambda: _job(ctx).step >= 20, "training to start", worker)
        with Session(ctx["engine"], expire_on_commit=False) as session:
            # A writer from the start: on SQLite a read that turns into a write fails at once
            # when the worker has committed in between (it reports every step).
            begin_for_write(session)
            jobs.cancel(session=session, job_id=ctx["job_id"], actor=ctx["admin"])
            session.commit()
        output, _ = worker.communicate(timeout=60)
    finally:
        worker.kill()
    done = _job(ctx)
    assert done.status == "cancelled", output[-3000:]
    assert done.step < LONG_JOB.max_steps
    with Session(ctx["engine"]) as session:
        last = session.scalar(
            select(func.max(JobMetric.step)).where(
                JobMetric.job_id == done.id, JobMetric.name == "train/loss"
            )
        )
    # The worker stops at the step whose heartbeat brought the cancel flag, with a checkpoint.
    assert last == done.step
    checkpoint = (
        ctx["env"]["STUDIO_ARTIFACTS_DIR"] + f"/jobs/{done.id}/checkpoints/step-{done.step}"
    )
    assert os.path.exists(checkpoint + "/trainer_state.json")


def test_a_worker_under_torchrun_trains_on_two_ranks(live_job):
    ctx = live_job
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    result = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "trainer",
            "--url",
            ctx["url"],
            "--token",
            ctx["token"],
            "--once",
        ],
        env={**ctx["env"], "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    done = _job(ctx)
    assert done.status == "succeeded", (done.error, result.stdout[-2000:], result.stderr[-3000:])
    assert done.worker.endswith("x2")  # one job, claimed once for both ranks
    with Session(ctx["engine"]) as session:
        lines = session.scalars(select(JobLog.line).where(JobLog.job_id == done.id)).all()
        steps = session.scalars(
            select(JobMetric.step).where(
                JobMetric.job_id == done.id, JobMetric.name == "train/loss"
            )
        ).all()
    assert "training data-parallel on 2 ranks" in lines
    assert sorted(steps) == list(range(1, LONG_JOB.max_steps + 1))  # rank 0 alone reports
