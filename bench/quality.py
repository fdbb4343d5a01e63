"""Time to quality for ``bench/trainer.py``: how long each trainer takes to reach a given loss.

Tokens per second is not what a user buys; a model as good in less time is. So every run of
the first round is measured as it trains: at fixed intervals of *training* time (wall time
less the time spent measuring, which a ``Stopwatch`` pauses), the same unpacked evaluation code
(``trainer.evaluate.evaluate_loss``) takes the loss on the training items and on a held-out
split, for Hugging Face's runs and ours alike, and once more after the last step.

A point is recorded at an optimizer step. Its time in the report is the run's clock at that
step: the sum over the steps before it of each step's fastest repeat (the headline clock of the
throughput report), so a point and the throughput figures share one clock and machine noise in
the measured round does not move it. The time to a target loss is interpolated linearly
between the last point above the target and the first at or below it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from app.core.kinds import ItemContent
from app.core.protocol import JobParams
from trainer import precision
from trainer.evaluate import evaluate_loss


def split_held_out(contents: Sequence[ItemContent], every: int) -> tuple[list, list]:
    """Every ``every``-th item (the ``every``-th, the ``2·every``-th, …) held out."""
    train = [c for i, c in enumerate(contents) if (i + 1) % every]
    held_out = [c for i, c in enumerate(contents) if not (i + 1) % every]
    return train, held_out


class Stopwatch:
    """Training time: wall time less the time spent in ``paused`` blocks."""

    def __init__(self) -> None:
        self.paused_s = 0.0

    def now(self) -> float:
        return time.perf_counter() - self.paused_s

    @contextmanager
    def paused(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.paused_s += time.perf_counter() - start


@dataclass
class Point:
    step: int
    measured_s: float  # training time in the measured round, when the point was taken
    train_loss: float
    held_out_loss: float


@dataclass
class Probe:
    """Measures a model's losses every ``interval_s`` of training time and after the last step."""

    tokenizer: object
    train: list[ItemContent]
    held_out: list[ItemContent]
    eval_cfg: JobParams
    interval_s: float
    stopwatch: Stopwatch
    initial: tuple[float, float]  # the untrained model's losses (every run starts from it)
    points: list[Point] = field(default_factory=list)

    def start(self) -> None:
        self.began = self.stopwatch.now()
        self.next_at = self.interval_s
        self.points = [Point(0, 0.0, *self.initial)]

    def after_step(self, model, step: int, last: bool) -> None:
        elapsed = self.stopwatch.now() - self.began
        if elapsed < self.next_at and not last:
            return
        with self.stopwatch.paused(), in_fp32(model):
            train = evaluate_loss(model, self.tokenizer, self.train, self.eval_cfg)
            held_out = evaluate_loss(model, self.tokenizer, self.held_out, self.eval_cfg)
        self.points.append(Point(step, elapsed, train, held_out))
        while self.next_at <= elapsed:
            self.next_at += self.interval_s


@contextmanager
def in_fp32(model) -> Iterator[None]:
    """Measured in fp32 whatever precision the run trains in (a bf16 run keeps fp32 master
    weights), so every run's losses come from the very same computation."""
    marked = getattr(model, precision.COMPUTE_DTYPE, None)
    setattr(model, precision.COMPUTE_DTYPE, torch.float32)
    try:
        yield
    finally:
        if marked is None:
            delattr(model, precision.COMPUTE_DTYPE)
        else:
            setattr(model, precision.COMPUTE_DTYPE, marked)


def step_clock(intervals_each: Sequence[Sequence[float]]) -> list[float]:
    """Training time at the end of each step, from every repeat's step intervals: entry ``k``
    is the sum of the fastest repeat of each of the first ``k`` intervals (entry 0 is 0)."""
    fastest = [min(step) for step in zip(*intervals_each, strict=True)]
    clock = [0.0]
    for seconds in fastest:
        clock.append(clock[-1] + seconds)
    return clock


def time_to(points: Sequence[Point], clock: Sequence[float], target: float, key: str):
    """Seconds until the loss named ``key`` first reaches ``target``, or ``None`` if it never
    does; linear between the two points around the crossing."""
    before = None
    for point in points:
        loss = getattr(point, key)
        if loss <= target:
            if before is None:
                return 0.0
            t0, t1 = clock[before.step], clock[point.step]
            l0 = getattr(before, key)
            return t0 + (t1 - t0) * (l0 - target) / (l0 - loss)
        before = point
    return None


def curve(points: Sequence[Point], clock: Sequence[float]) -> list[dict]:
    return [
        {
            "step": p.step,
            "s": round(clock[p.step], 2),
            "measured_s": round(p.measured_s, 2),
            "train_loss": round(p.train_loss, 4),
            "held_out_loss": round(p.held_out_loss, 4),
        }
        for p in points
    ]


def report(
    runs: dict[str, tuple[list[Point], list[float]]],
    *,
    reference: str,
    ours: str,
    rivals: dict[str, float],
    tolerance: float,
) -> dict:
    """Each run's curve and its time to the ``reference`` run's final losses, exactly and
    within ``tolerance`` (relative) of them; and ``ours``'s speed-up over each rival (their time
    over ours) to the loss within tolerance, against the minimum ratio each is given.

    Two runs of the same trainer that differ only in their data order end a few tenths of a
    percent to a percent apart (``tests/trainer/test_equal_work_packing.py``), so a run may end
    just above the reference's final loss although it trains as well: the exact time is then
    ``None``, and the budget is judged on the loss within tolerance, which every run that
    trains as well reaches."""
    final = runs[reference][0][-1]
    exact = {"train_loss": final.train_loss, "held_out_loss": final.held_out_loss}
    within = {key: value * (1 + tolerance) for key, value in exact.items()}
    out: dict = {
        "targets": {f"{reference}_final_{k}": round(v, 4) for k, v in exact.items()},
        "tolerance": tolerance,
        "runs": {},
    }
    times: dict[str, dict[str, float | None]] = {}
    for name, (points, clock) in runs.items():
        times[name] = {
            **{f"exact_{k}": time_to(points, clock, v, k) for k, v in exact.items()},
            **{f"within_{k}": time_to(points, clock, v, k) for k, v in within.items()},
        }
        out["runs"][name] = {
            **{f"seconds_to_{k}": _round(v) for k, v in times[name].items()},
            "final_train_loss": round(points[-1].train_loss, 4),
            "final_held_out_loss": round(points[-1].held_out_loss, 4),
            "training_s": round(clock[points[-1].step], 2),
            "curve": curve(points, clock),
        }
    ratios, budget = {}, {}
    for rival, minimum in rivals.items():
        for key in times[ours]:
            mine, theirs = times[ours][key], times[rival][key]
            ratio = theirs / mine if mine and theirs is not None else None
            ratios[f"{rival}_over_{ours}_seconds_to_{key}"] = _round(ratio, 3)
        ratio = ratios[f"{rival}_over_{ours}_seconds_to_within_train_loss"]
        budget[f"{rival}_min_ratio"] = minimum
        budget[f"{rival}_met"] = ratio is not None and ratio >= minimum
    out["ratios"] = ratios
    out["budget"] = {**budget, "met": all(v for k, v in budget.items() if k.endswith("_met"))}
    return out


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
