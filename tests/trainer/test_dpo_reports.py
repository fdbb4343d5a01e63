"""What a DPO job reports while it trains: the reward figures of each step, the eval pairs'
loss and rewards at eval intervals, each pair's loss and preference probability per epoch (the
data map), and heartbeats while the reference is scored before the first step."""

from __future__ import annotations

from types import SimpleNamespace

from app.core import protocol
from trainer import reporter as reporter_module
from trainer.reporter import Reporter
from trainer.train import make_objective, train

from .conftest import load_model
from .pair_data import PAIRS, dpo_cfg
from .test_reports import Recording


def _spec(params) -> protocol.JobSpec:
    return protocol.JobSpec(
        job_id=7,
        attempt=1,
        dataset_version_id=1,
        base_model="tiny",
        params=params,
        lease_seconds=120,
        artifact_dir="/nonexistent",
    )


def _items(contents, split: str, first_id: int) -> list[protocol.DatasetItem]:
    return [
        protocol.DatasetItem(item_id=first_id + i, revision=1, split=split, content=c)
        for i, c in enumerate(contents)
    ]


def test_a_dpo_run_reports_rewards_eval_pairs_and_pair_dynamics(tiny_dir, tokenizer):
    cfg = dpo_cfg(max_steps=4, batch_size=2, eval_interval=2, learning_rate=5e-3)
    train_items, eval_items = _items(PAIRS[:4], "train", 1), _items(PAIRS[4:], "eval", 10)
    objective = make_objective(
        tokenizer,
        [i.content for i in train_items],
        cfg,
        eval_contents=[i.content for i in eval_items],
    )
    client = Recording()
    model = load_model(tiny_dir)
    reporter = Reporter(
        client, _spec(cfg), model, tokenizer, train_items, eval_items, objective=objective
    )
    reporter.start()
    train(model, tokenizer, objective, cfg, on_step=reporter.on_step)
    points = [p for path, body in client.sent if path.endswith("/metrics") for p in body.points]
    names = {p.name for p in points}
    for figure in (
        "loss",
        "rewards_chosen",
        "rewards_rejected",
        "reward_margin",
        "reward_accuracy",
    ):
        assert f"train/{figure}" in names and f"eval/{figure}" in names
    assert sorted(p.step for p in points if p.name == "eval/loss") == [2, 4]
    dynamics = [p for path, body in client.sent if path.endswith("/dynamics") for p in body.points]
    assert {p.item_id for p in dynamics} == {1, 2, 3, 4}  # 2 epochs of 2 steps: both measured
    assert {p.epoch for p in dynamics} == {1, 2}
    assert all(0.0 <= p.confidence <= 1.0 for p in dynamics)


def test_scoring_the_reference_keeps_the_lease(tiny_dir, tokenizer, monkeypatch):
    monkeypatch.setattr(reporter_module, "HEARTBEAT_SECONDS", 0.0)
    cfg = dpo_cfg(batch_size=1)
    objective = make_objective(tokenizer, PAIRS, cfg)
    client = Recording()
    Reporter(client, _spec(cfg), None, tokenizer, [], [], objective=objective)
    objective.setup(load_model(tiny_dir), None)
    beats = [body for path, body in client.sent if path.endswith("/heartbeat")]
    assert len(beats) >= len(PAIRS)  # one a batch while the reference is scored
    assert all(beat.step == 0 for beat in beats)


class Cancelling(Recording):
    """An app that asks the job to stop at its second heartbeat."""

    def _post(self, path, body):
        answer = super()._post(path, body)
        beats = sum(1 for sent, _ in self.sent if sent.endswith("/heartbeat"))
        if beats < 2:
            return answer
        return SimpleNamespace(json=lambda: {"cancel": True, "lease_seconds": 120})


def test_a_job_cancelled_while_the_reference_is_scored_takes_no_step(
    tiny_dir, tokenizer, monkeypatch
):
    monkeypatch.setattr(reporter_module, "HEARTBEAT_SECONDS", 0.0)
    cfg = dpo_cfg(batch_size=1, max_steps=5)
    objective = make_objective(tokenizer, PAIRS, cfg)
    client = Cancelling()
    reporter = Reporter(client, _spec(cfg), None, tokenizer, [], [], objective=objective)
    steps = []
    result = train(
        load_model(tiny_dir),
        tokenizer,
        objective,
        cfg,
        on_step=lambda step, values: steps.append(step) or reporter.on_step(step, values),
    )
    beats = [body for path, body in client.sent if path.endswith("/heartbeat")]
    # The pass stopped at the heartbeat that heard the cancel, before scoring every pair.
    assert len(beats) == 2 < len(PAIRS)
    assert reporter.cancel and objective.stopped
    assert (result.step, result.losses, steps) == (0, [], [])
