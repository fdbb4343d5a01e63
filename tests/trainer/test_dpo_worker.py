"""SFT, then DPO on its model, through the real worker loop (``trainer.worker.serve``) against
the real app in process: the SFT job leaves the pairs out, the DPO job continues from the SFT
job's model and reports the metrics and the summary the app reads (their names are a contract
between the two)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import distinct, func, select

from app.core.job_paths import API_ROOT, JobFolder
from app.core.protocol import JobParams
from app.datasets import freezing, versions
from app.datasets.versions import VersionFilter
from app.items.schemas import ItemDraft
from app.jobs import service as jobs
from app.models import EvalPrediction, ItemDynamics, Job, JobLog, JobMetric
from app.tokens import service as tokens
from tests.dataset_factories import DRAFTS, approved_project
from trainer.client import AppClient
from trainer.worker import serve

from .pair_data import PAIRS

TRAIN_FIGURES = {
    "train/loss",
    "train/lr",
    "train/tokens_per_s",
    "train/rewards_chosen",
    "train/rewards_rejected",
    "train/reward_margin",
    "train/reward_accuracy",
}
EVAL_FIGURES = {
    "eval/loss",
    "eval/rewards_chosen",
    "eval/rewards_rejected",
    "eval/reward_margin",
    "eval/reward_accuracy",
}
SUMMARY = {
    "start_pair_accuracy",
    "start_pair_margin",
    "tuned_pair_accuracy",
    "tuned_pair_margin",
    "eval_reward_accuracy",
    "eval_reward_margin",
    "pairs_train",
    "pairs_eval",
}
SMALL = dict(batch_size=4, eval_interval=2, generation={"max_new_tokens": 4}, seed=3)


def _pair_drafts() -> list[ItemDraft]:
    """Each pair three times over, told apart by a number in its last request."""
    drafts = []
    for n in range(3):
        for pair in PAIRS:
            values = pair.model_dump()
            if values["turns"]:
                values["turns"][-1]["content"] += f" ({n})"
                values["instruction"] = ""
            else:
                values["instruction"] += f" ({n})"
            drafts.append(ItemDraft(**values))
    return drafts


def _worker(app, token: str) -> AppClient:
    worker = AppClient("http://testserver", token)
    worker.http = TestClient(
        app, base_url="http://testserver" + API_ROOT, headers={"Authorization": f"Bearer {token}"}
    )
    return worker


def _names(session, job_id: int) -> set[str]:
    query = select(JobMetric.name).where(JobMetric.job_id == job_id).distinct()
    return set(session.scalars(query))


def _count(session, model, job_id: int) -> int:
    query = select(func.count()).select_from(model).where(model.job_id == job_id)
    return session.scalar(query)


def _predictions(session, job_id: int) -> dict[str, int]:
    """A job's predictions per split: the eval items, and the seen sample ('train')."""
    query = (
        select(EvalPrediction.split, func.count())
        .where(EvalPrediction.job_id == job_id)
        .group_by(EvalPrediction.split)
    )
    return dict(session.execute(query).all())


def test_sft_then_dpo_on_its_model_through_the_worker_loop(app, client, db_session, settings):
    project, admin, _ = approved_project(
        db_session, drafts=[*DRAFTS, *_pair_drafts()], name="SFT then DPO"
    )
    version = freezing.create_version(
        session=db_session,
        project=project,
        name="v",
        f=VersionFilter(),
        actor=admin,
        eval_fraction=0.3,
    )
    token = tokens.create_token(
        session=db_session, name="w", scope="worker", owner=None, actor=None
    ).raw
    worker = _worker(app, token)

    sft = jobs.launch(
        session=db_session,
        version_id=version.id,
        base_model="tiny",
        params=JobParams(max_steps=3, learning_rate=1e-2, **SMALL),
        actor=admin,
    )
    db_session.commit()
    serve("http://testserver", token, once=True, client=worker)
    db_session.expire_all()
    done = db_session.get(Job, sft.id)
    assert done.status == "succeeded", done.error
    lines = db_session.scalars(select(JobLog.line).where(JobLog.job_id == sft.id)).all()
    pairs_left_out = [line for line in lines if "preference pairs left out" in line]
    assert pairs_left_out, lines
    assert "eval_loss" in done.metrics and not SUMMARY & set(done.metrics)
    # Every eval item, pairs included, and the seen sample: up to 8 of the items it trained on.
    kinds = [rev.snapshot["kind"] for _, rev in versions.pinned(db_session, version.id, "train")]
    learned = sum(kind != "preference" for kind in kinds)
    assert _predictions(db_session, sft.id) == {
        "eval": version.eval_count,
        "train": min(8, learned),
    }

    dpo = jobs.launch(
        session=db_session,
        version_id=version.id,
        base_model="tiny",
        params=JobParams(objective="dpo", max_steps=4, learning_rate=2e-2, **SMALL),
        actor=admin,
    )
    dpo.start_job_id = sft.id  # continue from the SFT job's model
    db_session.commit()
    serve("http://testserver", token, once=True, client=worker)
    db_session.expire_all()
    done = db_session.get(Job, dpo.id)
    assert done.status == "succeeded", done.error
    names = _names(db_session, dpo.id)
    assert names >= TRAIN_FIGURES and names >= EVAL_FIGURES
    assert set(done.metrics) >= SUMMARY
    assert done.metrics["pairs_train"] > 0 and done.metrics["pairs_eval"] > 0
    assert 0.0 <= done.metrics["tuned_pair_accuracy"] <= 1.0
    assert _predictions(db_session, dpo.id) == {
        "eval": version.eval_count,
        "train": min(8, done.metrics["pairs_train"]),  # DPO's seen sample: its pairs
    }
    # Dynamics measure the pairs only: one point per training pair per epoch.
    dynamics = select(func.count(distinct(ItemDynamics.item_id))).where(
        ItemDynamics.job_id == dpo.id
    )
    assert db_session.scalar(dynamics) == done.metrics["pairs_train"]

    folder = JobFolder.of(settings.resolved_artifacts_dir, dpo.id)
    assert json.loads((folder.path / "start.json").read_text()) == {
        "job_id": sft.id,
        "method": "lora",
    }
    card = (folder.model / "README.md").read_text()
    assert "trained with DPO" in card and f"tuned model of job {sft.id}" in card
    assert not Path(folder.base).exists()  # the SFT job's base was used, not a new one
