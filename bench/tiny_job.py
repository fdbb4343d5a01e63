"""The first fine-tune a new user runs: the `tiny` preset on the demo's Demo v1, end to end in
one process through the worker's own job code (``trainer.job.run_job``: build the model,
measure the starting model, train with a reporter, evaluate, save), with the app's HTTP
replaced by an in-process client that serves the version's items and records the reports.

Demo v1 is loaded as ``make run`` loads it (the demo into a fresh SQLite database, its
approved items frozen with the demo's eval fraction), so the items, splits and seen sample are
the ones a new user's job gets. Prints one JSON object:

- ``preset``: the launch form's `tiny` preset as it is (packed batches, the default), with wall
  time per phase, the eval loss of the starting and the tuned model, and the mean token F1,
  ROUGE-L and exact match of both models on the held-out prompts and on the seen sample;
- ``preset_unpacked``: the same job unpacked, the baseline packing is measured against
  (``--no-unpacked`` skips it);
- ``demo_job``: the job the demo queues itself (``app.demo.evaluation.JOB_PARAMS``);
- ``seen_outputs``: each seen prompt's reference and tuned output from the preset's job.

Run as ``.venv/bin/python bench/tiny_job.py``. The web app and HTTP add a few hundred
milliseconds to a real job.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from app.core import manifest, protocol  # noqa: E402
from app.core.kinds import ItemContent  # noqa: E402
from app.demo.evaluation import JOB_PARAMS as DEMO_JOB_PARAMS  # noqa: E402
from app.jobs.forms import PRESETS  # noqa: E402
from trainer.client import AppClient  # noqa: E402
from trainer.job import run_job  # noqa: E402

BUDGET_S = 60  # "well under a minute on 2 CPU cores" for the preset's whole job


def demo_version() -> dict[str, list[protocol.DatasetItem]]:
    """Demo v1's two splits, as a worker receives them from a freshly loaded demo."""
    from sqlalchemy.orm import Session

    from app import migrate
    from app.datasets import versions
    from app.db import make_engine
    from app.demo.loader import load_demo

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            version_id = load_demo(session=session, admin=None).version_id
            splits = {
                split: [
                    protocol.DatasetItem(
                        item_id=link.item_id,
                        revision=link.revision,
                        split=split,
                        content=ItemContent.from_row(rev.snapshot),
                        domain=rev.snapshot.get("domain"),
                        tags=rev.snapshot.get("tags") or [],
                    )
                    for link, rev in versions.pinned(session, version_id, split)
                ]
                for split in ("train", "eval")
            }
            session.rollback()
        engine.dispose()
    return splits


class LocalClient(AppClient):
    """The worker's client with the app in-process: the version's items from memory, every
    report recorded with the second it was sent at."""

    def __init__(self, splits: dict[str, list[protocol.DatasetItem]]) -> None:
        super().__init__("http://app.invalid", "st_bench")
        self.splits = splits
        self.sent: list[tuple[float, str, protocol.BaseModel]] = []

    def manifest(self, version_id: int) -> protocol.DatasetManifest:
        train, held_out = self.splits["train"], self.splits["eval"]
        return protocol.DatasetManifest(
            version_id=version_id,
            name="Demo v1",
            project_id=1,
            manifest_hash=manifest.received_hash(train + held_out),
            seed=0,
            eval_fraction=0.15,
            train_count=len(train),
            eval_count=len(held_out),
        )

    def split(self, version_id: int, split: str) -> list[protocol.DatasetItem]:
        return list(self.splits[split])

    def _post(self, path, body):
        self.sent.append((time.perf_counter(), path, body))
        return SimpleNamespace(json=lambda: {"cancel": False, "lease_seconds": 600})

    def bodies(self, ending: str) -> list[tuple[float, protocol.BaseModel]]:
        return [(at, body) for at, path, body in self.sent if path.endswith(ending)]


# The job's phases, by the functions ``run_job`` calls for them (``train`` includes what the
# reporter measures after each epoch and every ``eval_interval`` steps).
PHASES = {
    "build_model": ("trainer.job", "load_start"),
    "measure_start": ("trainer.job", "measure_start"),
    "train": ("trainer.train", "train"),
    "evaluate": ("trainer.job", "evaluate"),
    "save": ("trainer.job", "save"),
}


@contextmanager
def timed_phases():
    """Seconds spent in each of ``PHASES`` while the block runs (the functions wrapped, then
    put back)."""
    spent = dict.fromkeys(PHASES, 0.0)
    kept = {}
    for phase, (module_name, name) in PHASES.items():
        module = importlib.import_module(module_name)
        kept[phase] = (module, name, getattr(module, name))

        def timed(*args, _phase=phase, _inner=kept[phase][2], **kwargs):
            t = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                spent[_phase] += time.perf_counter() - t

        setattr(module, name, timed)
    try:
        yield spent
    finally:
        for module, name, inner in kept.values():
            setattr(module, name, inner)


def run(params: protocol.JobParams, splits, workdir: Path, name: str) -> dict:
    """One job through ``run_job``: its figures and its wall time per phase."""
    client = LocalClient(splits)
    spec = protocol.JobSpec(
        job_id=1,
        attempt=1,
        dataset_version_id=1,
        base_model="tiny",
        params=params,
        lease_seconds=600,
        artifact_dir=str(workdir / name),
    )
    started = time.perf_counter()
    with timed_phases() as phases:
        run_job(client, spec)
    total = time.perf_counter() - started
    predictions = [p for _, batch in client.bodies("/predictions") for p in batch.predictions]
    [(_, done)] = client.bodies("/complete")
    m = done.metrics
    held_out = [p for p in predictions if p.split == "eval"]
    seen = [p for p in predictions if p.split == "train"]

    def figures(prefix: str) -> dict:
        return {
            f"{side}_{name}": round(m[f"{prefix}{side}_{name}"], 3)
            for side in ("base", "tuned")
            for name in ("f1", "rouge_l", "exact_match")
            if m.get(f"{prefix}{side}_{name}") is not None
        }

    def rounded(value):
        return None if value is None else round(value, 4)

    return {
        "params": {
            k: getattr(params, k)
            for k in (
                "epochs",
                "max_steps",
                "learning_rate",
                "batch_size",
                "max_seq_len",
                "warmup_ratio",
                "schedule",
                "packing",
            )
        }
        | {"max_new_tokens": params.generation.max_new_tokens},
        "steps": int(m["steps"]),
        "final_train_loss": rounded(m.get("final_train_loss")),
        "base_eval_loss": rounded(m.get("base_eval_loss")),
        "eval_loss": rounded(m.get("eval_loss")),
        "seen_base_loss": rounded(m.get("seen_base_loss")),
        "seen_tuned_loss": rounded(m.get("seen_tuned_loss")),
        "padding_fraction": rounded(m.get("padding_fraction")),
        "held_out": {"prompts": len(held_out), **figures("")},
        "seen": {"prompts": len(seen), **figures("seen_")},
        **{f"{phase}_s": round(seconds, 2) for phase, seconds in phases.items()},
        "total_s": round(total, 2),
        "_seen_predictions": seen,
    }


def seen_outputs(predictions: list[protocol.Prediction]) -> list[dict]:
    return [
        {
            "item_id": p.item_id,
            "kind": p.kind,
            "tuned_f1": round(p.scores["tuned_f1"], 3),
            "reference": p.reference[:160],
            "tuned_output": p.tuned_output[:160],
        }
        for p in predictions
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-unpacked", action="store_true", help="skip the unpacked baseline")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo's own job")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a preset field for this run (JSON value), e.g. --set epochs=30",
    )
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(os.cpu_count() or 1, 2)))  # the 2-core laptop of the budget
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    preset = protocol.JobParams(**{**PRESETS["tiny"], **overrides})
    splits = demo_version()
    report: dict = {
        "benchmark": "tiny_job",
        "data": "Demo v1",
        "train_items": len(splits["train"]),
        "eval_items": len(splits["eval"]),
        "threads": torch.get_num_threads(),
        "budget_s": BUDGET_S,
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        warm = {"train": splits["train"][:4], "eval": splits["eval"][:1]}
        run(preset.model_copy(update={"max_steps": 2}), warm, workdir, "warm-up")  # first calls
        report["preset"] = run(preset, splits, workdir, "preset")
        if not args.no_unpacked:
            unpacked = preset.model_copy(update={"packing": False})
            report["preset_unpacked"] = run(unpacked, splits, workdir, "unpacked")
            report["train_time_ratio_unpacked_over_packed"] = round(
                report["preset_unpacked"]["train_s"] / max(report["preset"]["train_s"], 1e-9), 2
            )
        if not args.no_demo:
            demo = DEMO_JOB_PARAMS.model_copy(update=dict(overrides))
            report["demo_job"] = run(demo, splits, workdir, "demo")
    report["total_within_budget"] = report["preset"]["total_s"] < BUDGET_S
    report["seen_outputs"] = seen_outputs(report["preset"]["_seen_predictions"])
    for key in ("preset", "preset_unpacked", "demo_job"):
        if key in report:
            report[key].pop("_seen_predictions")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
