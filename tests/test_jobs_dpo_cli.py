"""`studio jobs …` for DPO as real processes on a fresh database: launching DPO (by parameter
or preset) continuing from a finished job, refusals said in a sentence, and the results and
show commands printing the eval-pair figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs.forms import PRESETS
from app.models import Job
from tests.job_factories import project_version, run_job
from tests.pair_factories import pairs_version, run_dpo_job
from tests.test_cli_datasets import as_json, seeded, studio


def _seed(artifacts: Path):
    def seed(session: Session) -> dict:
        _, admin, version = pairs_version(session, "CLI pairs")
        sft, _ = run_job(session, version, admin)
        folder = artifacts / "jobs" / str(sft.id)
        (folder / "model").mkdir(parents=True)
        (folder / "base").mkdir()
        dpo, _ = run_dpo_job(session, version, admin, start_job_id=sft.id, artifacts_root=artifacts)
        _, _, plain = project_version(session, "CLI plain")
        return {"version": version.id, "sft": sft.id, "dpo": dpo.id, "plain": plain.id,
                "admin": admin.email}  # fmt: skip

    return seed


@pytest.fixture(scope="module")
def setup(backend, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dpo-cli")
    with seeded(backend, tmp, _seed(tmp / "artifacts")) as ready:
        yield ready


def test_launch_dpo_continuing_from_a_job(setup):
    env, engine, ids = setup
    launched = studio(
        env, "jobs", "launch", str(ids["version"]), "--start-from", str(ids["sft"]),
        "--param", "objective=dpo", "--param", "dpo_beta=0.2", "--param", "max_steps=3",
        "--as", ids["admin"],
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr
    job_id = int(launched.stdout.split()[2])
    assert launched.stdout.strip().endswith(f"(tiny, DPO, continuing from job {ids['sft']})")
    preset = studio(env, "jobs", "launch", str(ids["version"]), "--preset", "dpo-lora",
                    "--param", "max_steps=2", "--as", ids["admin"])  # fmt: skip
    assert preset.returncode == 0, preset.stderr
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert (job.params["objective"], job.params["dpo_beta"], job.start_job_id) == (
            "dpo",
            0.2,
            ids["sft"],
        )
        assert job.base_model == "tiny"
        by_preset = session.scalar(select(Job).where(Job.id > job_id))
        assert (by_preset.params["objective"], by_preset.params["method"]) == ("dpo", "lora")
        # A tenth of the tiny preset's learning rate.
        assert by_preset.params["learning_rate"] == pytest.approx(
            PRESETS["tiny"]["learning_rate"] / 10
        )
    listed = studio(env, "jobs", "list").stdout
    assert f"DPO from {ids['sft']}" in listed


def test_refusals_are_sentences(setup):
    env, _engine, ids = setup
    no_pairs = studio(env, "jobs", "launch", str(ids["plain"]), "--param", "objective=dpo",
                      "--as", ids["admin"])  # fmt: skip
    assert no_pairs.returncode != 0
    assert "holds no preference pairs; DPO learns from pairs." in no_pairs.stderr
    unfinished = studio(env, "jobs", "launch", str(ids["version"]), "--start-from",
                        str(ids["dpo"] + 100), "--as", ids["admin"])  # fmt: skip
    assert unfinished.returncode != 0
    assert "is not a job of this dataset version's project" in unfinished.stderr


def test_results_and_show_print_the_eval_pair_figures(setup):
    env, _engine, ids = setup
    printed = studio(env, "jobs", "results", str(ids["dpo"]))
    assert printed.returncode == 0, printed.stderr
    assert (
        "eval pairs (2): the tuned model prefers the chosen response on 92% (starting model: "
        "55%), mean log-prob margin +3.1 (starting: +0.2); reward accuracy 95%, margin +2.40"
    ) in printed.stdout
    data = as_json(studio(env, "jobs", "results", str(ids["dpo"]), "--json"))
    assert data["objective"] == "dpo" and data["start_job_id"] == ids["sft"]
    assert data["preference"]["tuned_pair_accuracy"] == 0.92
    shown = studio(env, "jobs", "show", str(ids["dpo"])).stdout
    assert "objective  DPO" in shown
    assert f"starts from job {ids['sft']}'s model" in shown
    assert "rewards    accuracy 1.000 (eval 1.000), margin 0.800 (eval 0.800)" in shown
    parent = studio(env, "jobs", "show", str(ids["sft"])).stdout
    assert f"continued by job {ids['dpo']}" in parent
