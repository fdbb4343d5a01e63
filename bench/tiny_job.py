"""The first fine-tune a new user runs: the `tiny` preset on the demo items, end to end in one
process (build the model, base outputs, train, dynamics per epoch, eval loss, tuned outputs).

Prints one JSON object: wall time per phase for packed and unpacked batches, and the ratio of
the two (packing is the default; the unpacked run is the baseline). Run as
``.venv/bin/python bench/tiny_job.py`` (``--seed-tasks``: on the Self-Instruct seed tasks
instead of the demo). The web app and HTTP add a few hundred milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from app.core.kinds import ItemContent  # noqa: E402
from app.core.protocol import JobParams  # noqa: E402
from app.demo.loader import item_draft, load_content  # noqa: E402
from app.jobs.forms import PRESETS  # noqa: E402
from trainer.evaluate import evaluate_loss, generate, item_dynamics  # noqa: E402
from trainer.tiny import build_tiny  # noqa: E402
from trainer.train import train  # noqa: E402


def demo_items() -> tuple[list[ItemContent], list[ItemContent]]:
    contents = []
    for item in load_content().items:
        draft = item_draft(item)
        if not draft.output.strip():
            continue
        contents.append(ItemContent(**draft.model_dump(include=set(ItemContent.model_fields))))
    eval_every = 10  # about the default eval fraction
    train_items = [c for i, c in enumerate(contents) if i % eval_every]
    eval_items = [c for i, c in enumerate(contents) if not i % eval_every]
    return train_items, eval_items


def run(packing: bool, train_items, eval_items, workdir: Path) -> dict:
    phases: dict[str, float] = {}
    started = time.perf_counter()
    texts = [f"{c.instruction}\n{c.input}\n{c.output}" for c in train_items + eval_items]
    path = build_tiny(texts, workdir / f"base-{packing}", seed=1)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    phases["build_model_s"] = time.perf_counter() - started
    cfg = JobParams(**{**PRESETS["tiny"], "packing": packing})
    gen = cfg.generation.max_new_tokens
    t = time.perf_counter()
    for c in eval_items:
        generate(model, tokenizer, c, max_new_tokens=gen)
    phases["base_outputs_s"] = time.perf_counter() - t
    dynamics_s = 0.0
    epochs_done = 0
    losses: list[float] = []

    def on_step(step: int, values: dict) -> bool:
        nonlocal dynamics_s, epochs_done
        losses.append(values["loss"])
        while values["epoch"] >= epochs_done + 1:
            epochs_done += 1
            t0 = time.perf_counter()
            item_dynamics(model, tokenizer, train_items, cfg)
            dynamics_s += time.perf_counter() - t0
        return False

    torch.manual_seed(cfg.seed)
    t = time.perf_counter()
    result = train(model, tokenizer, train_items, cfg, on_step=on_step)
    phases["train_s"] = time.perf_counter() - t - dynamics_s
    phases["dynamics_s"] = dynamics_s
    t = time.perf_counter()
    eval_loss = evaluate_loss(result.model, tokenizer, eval_items, cfg)
    for c in eval_items:
        generate(result.model, tokenizer, c, max_new_tokens=gen)
    phases["eval_s"] = time.perf_counter() - t
    return {
        "packing": packing,
        "steps": result.step,
        "first_loss": round(losses[0], 4),
        "last_loss": round(losses[-1], 4),
        "eval_loss": round(eval_loss, 4),
        "padding_fraction": round(result.padding_fraction, 4),
        **{k: round(v, 2) for k, v in phases.items()},
        "total_s": round(time.perf_counter() - started, 2),
    }


def seed_task_items() -> tuple[list[ItemContent], list[ItemContent]]:
    """The Self-Instruct seed tasks (``$STUDIO_TEST_DATA/seed_tasks.jsonl``), every tenth for
    eval, as the default eval fraction would."""
    data = Path(os.environ.get("STUDIO_TEST_DATA", ROOT.parent / "shared" / "data"))
    lines = (data / "seed_tasks.jsonl").read_text(encoding="utf-8").splitlines()
    contents = [
        ItemContent(
            kind="task",
            instruction=task["instruction"],
            input=task["instances"][0]["input"],
            output=task["instances"][0]["output"],
        )
        for task in map(json.loads, filter(None, lines))
    ]
    return [c for i, c in enumerate(contents) if i % 10], contents[::10]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seed-tasks", action="store_true", help="the 175 Self-Instruct seed tasks, not the demo"
    )
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(os.cpu_count() or 1, 2)))  # the 2-core laptop of the budget
    train_items, eval_items = seed_task_items() if args.seed_tasks else demo_items()
    with tempfile.TemporaryDirectory() as tmp:
        run(True, train_items[:8], eval_items[:1], Path(tmp))  # warm-up: first calls are slower
        packed = run(True, train_items, eval_items, Path(tmp))
        unpacked = run(False, train_items, eval_items, Path(tmp))
    print(
        json.dumps(
            {
                "benchmark": "tiny_job",
                "data": "seed_tasks" if args.seed_tasks else "demo",
                "train_items": len(train_items),
                "eval_items": len(eval_items),
                "threads": torch.get_num_threads(),
                "budget_s": 180,
                "packed": packed,
                "unpacked_baseline": unpacked,
                "train_time_ratio_unpacked_over_packed": round(
                    unpacked["train_s"] / max(packed["train_s"], 1e-9), 2
                ),
                "total_within_budget": packed["total_s"] < 180,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
