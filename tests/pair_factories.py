"""Preference pairs approved through the real services, and versions frozen from them: what a
DPO job trains on."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.datasets import freezing
from app.datasets.versions import VersionFilter
from app.items.schemas import ItemDraft
from tests.dataset_factories import DRAFTS, approved_project

COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "white", "black")


def pair_drafts(count: int = 6) -> list[ItemDraft]:
    """``count`` pairs: a plain instruction, a few with an input, one whose prompt is a
    conversation's earlier turns; the chosen answer is the better (and not always the
    longer) one."""
    drafts = []
    for i in range(count):
        colour = COLOURS[i % len(COLOURS)]
        if i % 3 == 2:
            drafts.append(
                ItemDraft(
                    kind="preference",
                    turns=[
                        {"role": "user", "content": f"I like the colour {colour}."},
                        {"role": "assistant", "content": "Nice! What do you paint with it?"},
                        {"role": "user", "content": f"Name a fruit that is {colour} ({i})."},
                    ],
                    output=f"A fruit that can be {colour}.",
                    rejected="I do not know any fruit at all.",
                )
            )
            continue
        drafts.append(
            ItemDraft(
                kind="preference",
                instruction=f"Describe the colour {colour} in one short sentence ({i}).",
                input=f"Audience: children, day {i}." if i % 2 else "",
                output=f"{colour.capitalize()} is a bright and happy colour.",
                rejected=f"{colour} is a colour, and colours are colours, and that is all there is",
            )
        )
    return drafts


def pairs_version(
    session: Session,
    name: str = "Pairs",
    *,
    pairs: int = 6,
    with_items: bool = True,
    eval_fraction: float = 0.34,
):
    """A project with ``pairs`` approved preference pairs (and, ``with_items``, the dataset
    factories' SFT items beside them), and its version "v1". Returns (project, admin,
    version)."""
    drafts = pair_drafts(pairs) + (list(DRAFTS) if with_items else [])
    project, admin, _ = approved_project(session, name=name, drafts=drafts)
    version = freezing.create_version(
        session=session,
        project=project,
        name="v1",
        f=VersionFilter(),
        actor=admin,
        eval_fraction=eval_fraction,
    )
    return project, admin, version


# What a DPO job reports when it completes (the metric names' contract).
DPO_COMPLETION = {
    "eval_loss": 0.41,
    "start_pair_accuracy": 0.55,
    "start_pair_margin": 0.2,
    "tuned_pair_accuracy": 0.92,
    "tuned_pair_margin": 3.1,
    "eval_reward_accuracy": 0.95,
    "eval_reward_margin": 2.4,
    "pairs_train": 4,
    "pairs_eval": 2,
    "steps": 4,
}


def dpo_points(steps: int = 4, eval_every: int = 2):
    """Per-step DPO metrics as the trainer reports them: loss falling, the chosen reward
    rising above the rejected one, accuracy reaching 1."""
    from app.core import protocol

    points = []
    for step in range(1, steps + 1):
        chosen, rejected = 0.1 * step, -0.1 * step
        for split in ("train", "eval") if step % eval_every == 0 else ("train",):
            shift = 0.05 if split == "eval" else 0.0
            values = {
                "loss": 0.69 - 0.1 * step + shift,
                "rewards_chosen": chosen,
                "rewards_rejected": rejected,
                "reward_margin": chosen - rejected,
                "reward_accuracy": min(1.0, 0.25 * step),
            }
            points += [
                protocol.MetricPoint(step=step, name=f"{split}/{name}", value=value)
                for name, value in values.items()
            ]
        points.append(protocol.MetricPoint(step=step, name="train/lr", value=1e-4))
    return points


def run_dpo_job(
    session: Session,
    version,
    admin,
    *,
    start_job_id: int | None = None,
    artifacts_root=None,
    finish: bool = True,
    metrics: dict | None = None,
):
    """Launch a DPO job, claim it and report as the trainer does: per-step DPO metrics, the
    usual generations on the eval prompts and, ``finish``, the completion's figures. Returns
    (job, the spec the worker got)."""
    from app.core import protocol
    from app.core.kinds import ItemContent
    from app.datasets import versions
    from app.jobs import queue
    from app.jobs import service as jobs
    from tests.job_factories import scores, worker_token

    job = jobs.launch(
        session=session,
        version_id=version.id,
        base_model=None if start_job_id else "tiny",
        params=protocol.JobParams(objective="dpo", max_steps=4, eval_interval=2, dpo_beta=0.2),
        actor=admin,
        start_job_id=start_job_id,
        artifacts_root=artifacts_root,
    )
    session.flush()
    token = worker_token(session, name=f"dpo-{job.id}")
    claimed = queue.claim(session=session, worker="test-host:dpo", token_id=token)
    assert claimed is not None and claimed.id == job.id
    spec = queue.spec(claimed, artifacts_root=str(artifacts_root or "/unused"))
    attempt = claimed.attempts
    queue.record_metrics(
        session=session,
        job_id=job.id,
        batch=protocol.MetricBatch(attempt=attempt, points=dpo_points()),
        token_id=token,
    )
    predictions = []
    for link, revision in versions.pinned(session, version.id, "eval"):
        content = ItemContent.from_row(revision.snapshot)
        tuned = content.output
        predictions.append(
            protocol.Prediction(
                item_id=link.item_id,
                kind=content.kind,
                reference=content.output,
                base_output="something else",
                tuned_output=tuned,
                scores=scores([], content.output, "something else", tuned),
            )
        )
    queue.record_predictions(
        session=session,
        job_id=job.id,
        batch=protocol.PredictionBatch(attempt=attempt, predictions=predictions),
        token_id=token,
    )
    if finish:
        queue.finish(
            session=session,
            job_id=job.id,
            attempt=attempt,
            token_id=token,
            status="succeeded",
            metrics=metrics or DPO_COMPLETION,
            step=4,
        )
    session.flush()
    return job, spec


def model_folder(settings, job, *, base: bool = True) -> None:
    """What a finished worker leaves: the job's model folder (and the tiny base it built)."""
    folder = settings.resolved_artifacts_dir / "jobs" / str(job.id)
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.safetensors").write_bytes(b"\0" * 16)
    if base:
        (folder / "base").mkdir()
