"""DPO on the tiny model: our trainer against TRL's ``DPOTrainer`` on the same pairs, the same
initial weights, the same tokens and the same order (issue "preference pairs and DPO").

Pairs come from the Self-Instruct seed tasks (``$STUDIO_TEST_DATA/seed_tasks.jsonl``, default
``../shared/data``): the prompt is the task's instruction and input, *chosen* its reference output,
and *rejected* a degraded answer: the next task's output for even tasks, the first half of the
task's own output for odd ones (the next task's when that half would be the whole). The model is
``trainer.tiny.build_tiny`` on the pairs' text, saved once and loaded fresh by every run.

Each run is a process of its own, so its peak memory is its own:

- ``ours``: ``trainer.train.train`` with ``objective="dpo"`` (full fine-tune; the reference's
  log-probabilities scored once before the first step);
- ``trl``: TRL's ``DPOTrainer`` with its defaults for the reference (a frozen copy of the model,
  run forward at every step), from its own virtual environment ``bench/.venv-trl`` (created on
  first use with ``pip install trl==TRL_VERSION``; it reuses the project's torch and transformers
  through a ``.pth`` file, so both sides run the same kernels). Neither the app nor the trainer
  ever imports TRL;
- ``trl_precomputed``: the same with ``precompute_ref_log_probs=True`` (TRL's closest setting to
  ours).

All three use batch size 8, one epoch, max length 512, constant learning rate 1e-5 (no warmup,
no weight decay, no clipping), beta 0.1, the sigmoid loss, no dropout, and the order of our
trainer's first epoch (TRL reads the pairs in that order, sequentially). TRL gets the prompt as our
chat template renders it and the answers as plain text (TRL adds the EOS), which tokenizes to
exactly our token ids. The correctness check of the comparison is the loss of the first
``--compare-steps`` steps, which must agree.

Prints one JSON object (progress on stderr): per run the time (end to end: tokenization, the
reference, training), tokens per second (non-padding positions fed to the policy, prompt and
answers, over end-to-end time), peak memory (CPU: the process's peak RSS and its growth over the
RSS after loading; CUDA: max allocated), the first steps' losses; the ratios ours/TRL; the
versions. ``--record`` writes it to ``docs/benchmarks/dpo-<date>.json``.

    .venv/bin/python bench/dpo.py            # about 2 minutes on a quiet 2-core machine
    .venv/bin/python bench/dpo.py --items 48 # a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: bench/datasets.py would shadow the `datasets` library and bench/trainer.py
# the `trainer` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.dpo_sides import (  # noqa: E402 - after the path and environment above
    BATCH_SIZE,
    BETA,
    LEARNING_RATE,
    MAX_LEN,
    SEED,
    child_ours,
    child_trl,
    epoch_tokens,
)

TRL_VERSION = "1.16.0"
TRL_VENV = ROOT / "bench" / ".venv-trl"
TRL_PYTHON = TRL_VENV / "bin" / "python"
DATA = Path(os.environ.get("STUDIO_TEST_DATA", ROOT.parent / "shared" / "data"))
LOSS_TOLERANCE = 1e-4  # fp32 on both sides: the same numbers up to summation order
SIDES = ("ours", "trl", "trl_precomputed")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the parent: data, model, runs, comparison -----------------------------------------------


def seed_pairs(path: Path, limit: int | None):
    """One preference pair per seed task; the rejected answer is degraded as the docstring
    says."""
    from app.core.kinds import ItemContent

    tasks = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    tasks = tasks[:limit] if limit else tasks
    outputs = [t["instances"][0]["output"].strip() for t in tasks]
    pairs = []
    for k, task in enumerate(tasks):
        chosen, other = outputs[k], outputs[(k + 1) % len(outputs)]
        words = chosen.split()
        half = " ".join(words[: len(words) // 2])
        rejected = other if k % 2 == 0 or not half else half
        if not chosen or rejected in ("", chosen):
            continue
        pairs.append(
            ItemContent(
                kind="preference",
                instruction=task["instruction"],
                input=task["instances"][0]["input"],
                output=chosen,
                rejected=rejected,
            )
        )
    return pairs


def prepare(workdir: Path, args) -> dict:
    """The model, and the pairs that fit in ``MAX_LEN`` with TRL's text form and our order."""
    import torch
    from transformers import AutoTokenizer

    from app.core.prompts import prompt_messages, render_messages
    from trainer.pairs import encode_pairs
    from trainer.tiny import build_tiny

    pairs = seed_pairs(DATA / "seed_tasks.jsonl", args.items)
    texts = [m["content"] for p in pairs for m in render_messages(p)] + [p.rejected for p in pairs]
    model_dir = build_tiny(
        texts, workdir / "model", hidden=args.hidden, layers=args.layers, seed=SEED
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoded, stats = encode_pairs(tokenizer, pairs, max_seq_len=MAX_LEN)
    kept = [pairs[p.source] for p in encoded]
    order = torch.randperm(len(kept), generator=torch.Generator().manual_seed(SEED)).tolist()
    rows = []
    for content in kept:
        prompt = tokenizer.apply_chat_template(
            prompt_messages(content), add_generation_prompt=True, tokenize=False
        )
        rows.append(
            {
                "content": content.model_dump(mode="json"),
                "prompt": prompt,
                "chosen": content.output,
                "rejected": content.rejected,
            }
        )
    (workdir / "pairs.json").write_text(json.dumps({"rows": rows, "order": order}))
    positions = sum(len(p.chosen) + len(p.rejected) for p in encoded)
    return {
        "pairs_built": len(pairs),
        "pairs_used": len(kept),
        "answers_cut": stats.truncated,
        "pairs_dropped": stats.dropped,
        "tokens_per_epoch": positions,
    }


def ensure_trl() -> None:
    """``bench/.venv-trl`` with TRL pinned, on top of the project's own packages."""
    if TRL_PYTHON.exists():
        probe = subprocess.run(
            [str(TRL_PYTHON), "-c", "import trl; print(trl.__version__)"],
            capture_output=True,
            text=True,
        )
        if probe.stdout.strip() == TRL_VERSION:
            return
    log(f"creating {TRL_VENV} with trl=={TRL_VERSION}")
    subprocess.run([sys.executable, "-m", "venv", str(TRL_VENV)], check=True)
    site = subprocess.run(
        [str(TRL_PYTHON), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The same torch and transformers as ours, so the two trainers differ only in their loops.
    (Path(site) / "_project_packages.pth").write_text(ours + "\n")
    pip = [str(TRL_PYTHON), "-m", "pip", "install", "--quiet", f"trl=={TRL_VERSION}"]
    subprocess.run(pip, check=True, stdout=sys.stderr)


def run_side(side: str, workdir: Path, args) -> dict:
    python = sys.executable if side == "ours" else str(TRL_PYTHON)
    command = [python, __file__, "--side", side, "--workdir", str(workdir)]
    command += ["--threads", str(args.threads), "--compare-steps", str(args.compare_steps)]
    log(f"running {side}")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{side} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def best(repeats: list[dict]) -> dict:
    """The fastest repeat (other work on the machine only ever adds time), with every
    repeat's time beside it."""
    fastest = min(repeats, key=lambda r: r["seconds"])
    return {**fastest, "seconds_each": [r["seconds"] for r in repeats]}


def compare(runs: dict, data: dict, args) -> dict:
    ours = runs["ours"]
    first = args.compare_steps
    checks = {}
    for side in SIDES[1:]:
        theirs = runs[side]["losses"][:first]
        diff = max(abs(a - b) for a, b in zip(ours["losses"][:first], theirs, strict=True))
        checks[f"ours_vs_{side}_max_loss_diff_first_{first}_steps"] = diff
        # Not judged: tiny differences in the weights grow over the steps.
        whole = zip(ours["losses"], runs[side]["losses"], strict=True)
        checks[f"ours_vs_{side}_max_loss_diff_all_steps"] = max(abs(a - b) for a, b in whole)
    equal = all(v <= LOSS_TOLERANCE for v in checks.values())
    best_trl = max(runs[s]["tokens_per_s"] for s in SIDES[1:])
    ratios = {}
    for s in SIDES[1:]:
        ratios[f"tokens_per_s_ours_over_{s}"] = ours["tokens_per_s"] / runs[s]["tokens_per_s"]
        ratios[f"loop_tokens_per_s_ours_over_{s}"] = (
            ours["loop_tokens_per_s"] / runs[s]["loop_tokens_per_s"]
        )
    memory_key = "cuda_max_allocated_mb" if ours.get("cuda_max_allocated_mb") else "rss_peak_mb"
    ratios.update(
        {f"{memory_key}_ours_over_{s}": ours[memory_key] / runs[s][memory_key] for s in SIDES[1:]}
    )
    return {
        "benchmark": "dpo",
        "date": datetime.date.today().isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": {
            "batch_size": BATCH_SIZE,
            "max_length": MAX_LEN,
            "learning_rate": LEARNING_RATE,
            "beta": BETA,
            "epochs": 1,
            "threads": args.threads,
            "repeats": args.repeats,
            "hidden": args.hidden,
            "layers": args.layers,
            "items": args.items,
        },
        "data": data,
        "runs": runs,
        "ratios": ratios,
        "checks": {**checks, "losses_equal": equal, "tolerance": LOSS_TOLERANCE},
        "budget": {
            "target": "ours at least TRL's tokens/s at equal loss",
            "met": equal and ours["tokens_per_s"] >= best_trl,
        },
        "versions": runs["trl"]["versions"],
    }


def parent(args) -> None:
    if not (DATA / "seed_tasks.jsonl").exists():
        print(json.dumps({"benchmark": "dpo", "skipped": f"no {DATA / 'seed_tasks.jsonl'}"}))
        return
    try:
        ensure_trl()
    except subprocess.CalledProcessError as error:
        print(json.dumps({"benchmark": "dpo", "skipped": f"could not install TRL: {error}"}))
        return
    with tempfile.TemporaryDirectory(prefix="bench-dpo-") as tmp:
        workdir = Path(tmp)
        data = prepare(workdir, args)
        log(f"{data['pairs_used']} pairs; model in {workdir / 'model'}")
        each: dict[str, list[dict]] = {side: [] for side in SIDES}
        for repeat in range(args.repeats):
            # Every other round in reverse order: load that comes and goes hits every side.
            for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                each[side].append(run_side(side, workdir, args))
        runs = {side: best(each[side]) for side in SIDES}
    report = compare(runs, data, args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.record:
        out = ROOT / "docs" / "benchmarks" / f"dpo-{report['date']}.json"
        out.write_text(text + "\n")
        log(f"recorded in {out}")


def child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    workdir = Path(args.workdir)
    loaded = json.loads((workdir / "pairs.json").read_text())
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    # Trainers print their logs; stdout carries the report alone.
    with contextlib.redirect_stdout(sys.stderr):
        if args.side == "ours":
            out = child_ours(workdir, loaded)
        else:
            out = child_trl(workdir, loaded, precompute=args.side == "trl_precomputed")
    # The same positions for every side: each pair's chosen and rejected sequence, once an epoch.
    tokens = epoch_tokens(workdir, loaded)
    out["tokens"] = tokens
    out["tokens_per_s"] = tokens / out["seconds"]
    out["loop_tokens_per_s"] = tokens / out["loop_seconds"]
    out["first_losses"] = out["losses"][: args.compare_steps]
    out["all_finite"] = all(math.isfinite(x) for x in out["losses"])
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=None, help="use the first N seed tasks")
    parser.add_argument("--hidden", type=int, default=64, help="the tiny model's hidden size")
    parser.add_argument("--layers", type=int, default=2, help="the tiny model's layers")
    # One thread: on a shared machine OpenMP threads spin while descheduled and swamp the timing.
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side; best counts")
    parser.add_argument("--compare-steps", type=int, default=5, help="steps whose losses agree")
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks/dpo-*.json")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
