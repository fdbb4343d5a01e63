"""A real worker process trains the tiny model for a job of a real app over loopback HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import migrate
from app.core.protocol import JobParams
from app.db import make_engine
from app.models import DatasetVersion, EvalPrediction, ItemDynamics, Job, JobLog, JobMetric
from app.tokens import service as tokens
from tests.conftest import live_backend
from tests.dbs import fresh_database
from tests.job_factories import queued_job
from tests.live_server import Server, free_port

pytestmark = pytest.mark.live


def run_worker_once(url: str, tmp_path: Path, token: str, *, timeout: int):
    """A real server on ``url``'s database and one real worker that takes one job, offline."""
    env = {
        **os.environ,
        "STUDIO_DATABASE_URL": url,
        "STUDIO_VAR_DIR": str(tmp_path / "var"),
        "STUDIO_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
    }
    server = Server(env, tmp_path, command="serve")
    try:
        server.wait()
        return subprocess.run(
            [sys.executable, "-m", "trainer", "--url", server.url, "--token", token, "--once"],
            env={**env, "HF_HUB_OFFLINE": "1"},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        server.stop()


def test_worker_trains_a_tiny_job_to_the_end(tmp_path):
    with fresh_database(live_backend(), tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            version, _admin, job, token = queued_job(
                session,
                JobParams(
                    epochs=2,
                    eval_interval=3,
                    batch_size=4,
                    learning_rate=3e-3,
                    seed=1,
                    generation={"max_new_tokens": 8},
                    save_merged=True,
                ),
                name="Worker e2e",
            )
        worker = run_worker_once(url, tmp_path, token, timeout=600)
        with Session(engine) as session:
            done = session.get(Job, job.id)
            assert done.status == "succeeded", (
                done.error,
                worker.stdout[-2000:],
                worker.stderr[-3000:],
            )
            assert done.attempts == 1 and done.worker
            steps = sorted(
                session.scalars(
                    select(JobMetric.step).where(
                        JobMetric.job_id == job.id, JobMetric.name == "train/loss"
                    )
                ).all()
            )
            assert len(steps) >= 2 and steps == list(range(1, int(done.metrics["steps"]) + 1))
            assert done.total_steps == len(steps)  # the progress bar knows its end
            card = tmp_path / "artifacts" / "jobs" / str(job.id) / "model" / "README.md"
            assert 'base_model: "tiny"' in card.read_text()
            _assert_merged_model_matches_adapter(card.parent)
            eval_points = session.scalar(
                select(func.count())
                .select_from(JobMetric)
                .where(JobMetric.job_id == job.id, JobMetric.name == "eval/loss")
            )
            assert eval_points == len(steps) // 3
            per_epoch = session.execute(
                select(ItemDynamics.epoch, func.count())
                .where(ItemDynamics.job_id == job.id)
                .group_by(ItemDynamics.epoch)
            ).all()
            assert dict(per_epoch) == {1: version.train_count, 2: version.train_count}
            splits = dict(
                session.execute(
                    select(EvalPrediction.split, func.count())
                    .where(EvalPrediction.job_id == job.id)
                    .group_by(EvalPrediction.split)
                ).all()
            )
            # Every eval item, and the seen sample: up to 8 training items (trainer.baseline).
            assert splits == {"eval": version.eval_count, "train": min(8, version.train_count)}
            assert (
                session.scalar(
                    select(func.count()).select_from(JobLog).where(JobLog.job_id == job.id)
                )
                >= 1
            )
            assert {"eval_loss", "base_eval_loss", "base_f1", "tuned_f1"} <= set(done.metrics)
            assert {"seen_base_f1", "seen_tuned_f1", "seen_tuned_loss"} <= set(done.metrics)
            assert (Path(done.artifacts[0]) / "config.json").exists() or (
                Path(done.artifacts[0]) / "adapter_config.json"
            ).exists()
        engine.dispose()


def test_worker_fails_a_job_whose_data_does_not_match_its_manifest(tmp_path):
    with fresh_database(live_backend(), tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            version, _admin, job, token = queued_job(
                session, JobParams(max_steps=1), name="Tampered"
            )
            # As if the stored data had changed under the frozen version.
            session.execute(
                update(DatasetVersion)
                .where(DatasetVersion.id == version.id)
                .values(manifest_hash="0" * 64)
            )
            session.commit()
        worker = run_worker_once(url, tmp_path, token, timeout=300)
        with Session(engine) as session:
            failed = session.get(Job, job.id)
            assert failed.status == "failed", (failed.status, worker.stderr[-3000:])
            assert f"Dataset version {version.id}" in failed.error
            assert "do not match its manifest" in failed.error
            # Refused before anything was built or trained.
            assert not (tmp_path / "artifacts" / "jobs" / str(job.id) / "base").exists()
        engine.dispose()


def test_worker_waits_for_an_app_that_is_still_starting(tmp_path):
    """`make run` starts the web app and the worker together: the worker must keep trying."""
    import time

    with fresh_database(live_backend(), tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            token = tokens.create_token(
                session=session, name="w", scope="worker", owner=None, actor=None
            ).raw
            session.commit()
        engine.dispose()
        env = {**os.environ, "STUDIO_DATABASE_URL": url, "STUDIO_VAR_DIR": str(tmp_path / "var")}
        port = free_port()
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trainer",
                "--url",
                f"http://127.0.0.1:{port}",
                "--token",
                token,
                "--once",
                "--poll",
                "0.5",
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        assert worker.poll() is None  # still trying, not crashed
        server = Server(env, tmp_path, command="serve", port=port)
        try:
            server.wait()
            assert worker.wait(timeout=60) == 0  # claimed (nothing queued) and exited
        finally:
            worker.kill()
            server.stop()
        assert "cannot reach" in worker.stderr.read()


def _assert_merged_model_matches_adapter(model_dir: Path) -> None:
    """The merged weights alone produce the logits of the base model plus the adapter."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base_dir = model_dir.parent / "base"
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), model_dir)
    merged = AutoModelForCausalLM.from_pretrained(model_dir / "merged")
    ids = torch.tensor([[1, 5, 9, 13, 2]])
    with torch.no_grad():
        torch.testing.assert_close(
            merged(input_ids=ids).logits, adapted(input_ids=ids).logits, atol=1e-4, rtol=1e-4
        )
