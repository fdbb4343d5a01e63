"""What a job reports while it trains: the training loop tells a ``Reporter`` what encoding the
data cut or dropped (its ``on_encoded``: the ``data/…`` metrics at step 0 and a log line) and
calls it after every optimizer step (its ``on_step``), and the reporter sends metrics, the eval
loss every ``eval_interval`` steps, each training item's loss and confidence after every epoch
(the data map's input), and a heartbeat every few seconds, whose reply may ask the job to stop.

For DPO (an objective that scores pairs) the eval figures are the DPO loss and the implicit
rewards on the eval pairs (``eval/loss``, ``eval/rewards_chosen``, …), and a pair's dynamics
are its DPO loss and the probability its chosen answer is preferred (``trainer.dpo``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from app.core import job_paths, protocol
from trainer.checkpoints import latest_checkpoint
from trainer.client import AppClient
from trainer.data import EncodeStats
from trainer.dpo import REWARD_FIGURES
from trainer.evaluate import evaluate_loss, item_dynamics
from trainer.ranks import world

# Seconds between heartbeats (each also reports the newest checkpoint); tests shorten it.
HEARTBEAT_SECONDS = float(os.environ.get("STUDIO_HEARTBEAT_SECONDS", "5"))


class Reporter:
    """Rank 0's link to the app during training; ``cancel`` is True once the app asked to stop."""

    def __init__(
        self,
        client: AppClient,
        spec: protocol.JobSpec,
        model,
        tokenizer,
        train_items: Sequence[protocol.DatasetItem],
        eval_items: Sequence[protocol.DatasetItem],
        *,
        objective=None,
    ) -> None:
        self.client, self.spec, self.params = client, spec, spec.params
        # DPO's objective measures pairs itself; SFT's items are measured here.
        self.pairs = objective if hasattr(objective, "eval_pairs") else None
        if self.pairs is not None and world()[1] == 0:
            self.pairs.keep_alive = self.keep_alive
        self.model, self.tokenizer = model, tokenizer
        self.train_items, self.eval_items = list(train_items), list(eval_items)
        self.checkpoints: Path = job_paths.JobFolder(Path(spec.artifact_dir)).checkpoints
        self.cancel = False
        self.epochs_done: int | None = None  # known at the first step (a resumed run starts late)
        self.started = self.last_beat = 0.0

    def start(self) -> None:
        """Training begins now: throughput counts training only, not the base outputs."""
        self.started = time.monotonic()

    def keep_alive(self) -> bool:
        """A heartbeat during a long pass before the first step (DPO's reference scores), so
        the lease does not run out; True when its reply asks the job to stop, which the pass
        then does, and training stops before its first step."""
        if time.monotonic() - self.last_beat >= HEARTBEAT_SECONDS:
            self._heartbeat(0, {"epoch": 0.0})
        return self.cancel

    def on_encoded(self, stats: EncodeStats) -> None:
        """What encoding the training items cut or dropped, for the job page."""
        self._metrics(data_points(stats))
        if stats.any():
            line = (
                f"encoding: {stats.truncated_at_turn} examples truncated at a turn boundary, "
                f"{stats.truncated} cut inside an answer, {stats.dropped} dropped (longer than "
                f"max_seq_len {self.params.max_seq_len}), {stats.prefix_mismatches} with chat "
                f"template mismatches"
            )
            self.client.logs(
                self.spec.job_id, protocol.LogBatch(attempt=self.spec.attempt, lines=[line])
            )

    def on_step(self, step: int, values: dict) -> bool:
        """Called by the training loop after each optimizer step; True asks it to stop."""
        if self.epochs_done is None:
            # A resumed run starts mid-way: the epochs before its checkpoint were measured by
            # the earlier attempt and are not measured again with today's weights.
            self.epochs_done = math.floor(values["epoch"] * (step - 1) / step)
        self._send_metrics(step, values)
        if step % self.params.eval_interval == 0:
            self._send_eval(step)
        while values["epoch"] >= self.epochs_done + 1:
            self.epochs_done += 1
            self._send_dynamics(self.epochs_done)
        if time.monotonic() - self.last_beat >= HEARTBEAT_SECONDS:
            self._heartbeat(step, values)
        return self.cancel

    def _send_metrics(self, step: int, values: dict) -> None:
        seconds_per_step = max((time.monotonic() - self.started) / step, 1e-9)
        named = {f"train/{k}": v for k, v in values.items() if k != "total_steps"}
        named["train/tokens_per_s"] = values["tokens"] / seconds_per_step
        # A diverged step's NaN or infinite loss or gradient norm is a gap in the curve: the
        # app refuses numbers it cannot chart.
        points = [
            protocol.MetricPoint(step=step, name=name, value=float(v))
            for name, v in named.items()
            if v is not None and protocol.reportable(float(v))
        ]
        self._metrics(points)

    def _send_eval(self, step: int) -> None:
        if self.pairs is not None:
            if not self.pairs.eval_pairs:
                return
            figures = self.pairs.evaluate(self.model)
            named = {f"eval/{k}": figures[k] for k in ("loss", *REWARD_FIGURES)}
        elif self.eval_items:
            contents = [i.content for i in self.eval_items]
            named = {"eval/loss": evaluate_loss(self.model, self.tokenizer, contents, self.params)}
        else:
            return
        points = [
            protocol.MetricPoint(step=step, name=name, value=value)
            for name, value in named.items()
            if protocol.reportable(value)
        ]
        self._metrics(points)

    def _send_dynamics(self, epoch: int) -> None:
        """Each training item's loss and confidence after an epoch."""
        if self.pairs is not None:
            measured = self.pairs.dynamics(self.model)
        else:
            contents = [i.content for i in self.train_items]
            measured = item_dynamics(self.model, self.tokenizer, contents, self.params)
        points = [
            protocol.DynamicsPoint(
                item_id=item.item_id,
                epoch=epoch,
                loss=values[0],
                confidence=min(1.0, max(0.0, values[1])),
            )
            for item, values in zip(self.train_items, measured, strict=True)
            if values is not None and protocol.reportable(values[0])
        ]
        if points:
            self.client.dynamics(self.spec.job_id, self.spec.attempt, points)

    def _heartbeat(self, step: int, values: dict) -> None:
        self.last_beat = time.monotonic()
        beat = protocol.Heartbeat(
            attempt=self.spec.attempt,
            step=step,
            epoch=values["epoch"],
            total_steps=values.get("total_steps"),
            # Where a replacement worker resumes if this one dies.
            checkpoint=latest_checkpoint(self.checkpoints),
        )
        self.cancel = self.client.heartbeat(self.spec.job_id, beat).cancel

    def _metrics(self, points: list[protocol.MetricPoint]) -> None:
        if points:
            batch = protocol.MetricBatch(attempt=self.spec.attempt, points=points)
            self.client.metrics(self.spec.job_id, batch)


def data_points(stats: EncodeStats) -> list[protocol.MetricPoint]:
    """The encoding counts as the ``data/…`` metrics (``protocol.DATA_METRICS``), at step 0."""
    return [
        protocol.MetricPoint(step=0, name=f"data/{name}", value=float(count))
        for name, count in asdict(stats).items()
    ]
