"""Trainer throughput and time to quality against Hugging Face ``Trainer`` on the Self-Instruct
seed tasks (design §7).

Builds the reference model once (a Llama with hidden size 256, 4 layers, 4 heads, intermediate size
688 and a 4,096-token BPE vocabulary trained on the seed tasks' text), encodes every seed task with
our chat template and response-only labels (``trainer.data.encode_all``), and trains the same fresh
initial weights on the same tokens and the same loss mask with the reference settings (batch size 8,
3 epochs, max length 512, learning rate 1e-3, full fine-tuning):

1. HF ``Trainer`` with ``DataCollatorForSeq2Seq``, default (random) order;
2. the same with ``train_sampling_strategy="group_by_length"`` (transformers 5's spelling of the old
   ``group_by_length=True``);
3. ours, ``trainer.train.train`` with packing (our default);
4. ours without packing (padded batches in random order, like 1).

Every 8th seed task is held out; the runs train on the rest. In the first round, runs 1-4 are
measured as they train (``bench/quality.py``): every ``--eval-every`` seconds of training time
(default 2; the time spent measuring is not counted) and after the last step, the same unpacked
evaluation code takes the loss on the training items and on the held-out ones. The report gives
each run's curve and its time to the loss HF's default run ends with, and the ratios of HF's
times to ours (the budget: at least 1.5 against HF default and 1.2 against HF grouped).

Runs 1-3 repeat ``--repeats`` times (default 3), interleaved; run 4 runs once. Each run reports
the wall time of its training loop, real (non-padding) tokens per second, the padding fraction, the
final step loss, the loss on the training set after training (the same measurement for every run)
and its model FLOP/s as a fraction of a dense fp32 matmul peak measured in the same process. Prints
one JSON object; progress goes to stderr. Run as ``.venv/bin/python bench/trainer.py`` (about 4½
minutes on a quiet 2-core machine, twice that when other work shares it) or with ``--quick`` (48
items, one epoch) for a smoke run. The seed tasks are read from
``$STUDIO_TEST_DATA/seed_tasks.jsonl`` (default ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: bench/datasets.py would shadow the `datasets` library (which transformers'
# Trainer imports too) and this file the `trainer` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import datasets  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
)

from app.core.kinds import ItemContent, ItemKind  # noqa: E402
from bench import quality  # noqa: E402
from bench.trainer_runs import (  # noqa: E402
    BATCH_SIZE,
    EPOCHS,
    LEARNING_RATE,
    MAX_LEN,
    SEED,
    fresh_model,
    hf_run,
    naive_run,
    our_config,
    our_run,
)
from trainer.data import encode_all  # noqa: E402
from trainer.evaluate import evaluate_loss  # noqa: E402
from trainer.tiny import train_tokenizer  # noqa: E402
from trainer.train import train  # noqa: E402

# Design §7, reference settings (the training ones in bench/trainer_runs.py) and budget.
HIDDEN, LAYERS, HEADS, INTERMEDIATE, VOCAB = 256, 4, 4, 688, 4096
REFERENCE = {
    "hf_default_tokens_per_s": 1760,
    "hf_default_padding": 0.56,
    "hf_grouped_tokens_per_s": 2930,
    "hf_grouped_padding": 0.27,
}
MIN_RATIO_TO_DEFAULT = 1.5
# Time to the loss HF's default run ends with: HF's time over ours, at least (issue 20).
MIN_TIME_RATIOS = {"hf_default": 1.5, "hf_grouped": 1.2}
# The budget's target: HF default's final training-set loss, reached within 1% (two runs that
# differ only in data order end up to about 1% apart; bench/quality.py).
TARGET_TOLERANCE = 0.01
HELD_OUT_EVERY = 8  # every 8th seed task that fits is held out: 21 of 174
MAX_PADDING = 0.05
THREADS = 2  # the 2-core machine of the budget


def log(message: str) -> None:
    print(f"[bench/trainer] {message}", file=sys.stderr, flush=True)


# --- data and model --------------------------------------------------------------------------


def seed_items(path: Path) -> list[ItemContent]:
    """Each seed task with its first (and only) instance as an ``ItemContent`` task item."""
    tasks = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [
        ItemContent(
            kind=ItemKind.task,
            instruction=task["instruction"],
            input=task["instances"][0]["input"],
            output=task["instances"][0]["output"],
        )
        for task in tasks
    ]


def build_reference(contents: list[ItemContent], out: Path) -> Path:
    """The reference model, built like ``trainer.tiny.build_tiny`` (which derives the intermediate
    size from the hidden size and so cannot give 688) and saved for ``from_pretrained``."""
    texts = [f"{c.instruction}\n{c.input}\n{c.output}" for c in contents]
    tokenizer = train_tokenizer(texts, vocab_size=VOCAB)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def param_counts(model) -> dict:
    total = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    return {"total": total, "non_embedding": total - embedding}


# --- machine -------------------------------------------------------------------------------


class MachineShare:
    """The share of all CPUs that other processes used since construction: busy time from
    ``/proc/stat`` less this process's own CPU time. Above a few percent the machine was shared."""

    def __init__(self):
        self.wall, self.busy, self.own = time.perf_counter(), _busy_s(), time.process_time()

    def other_pct(self) -> float | None:
        busy = _busy_s()
        if busy is None or self.busy is None:
            return None
        wall = (time.perf_counter() - self.wall) * (os.cpu_count() or 1)
        other = (busy - self.busy) - (time.process_time() - self.own)
        return round(max(0.0, other) / wall * 100, 1)


def _busy_s() -> float | None:
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# --- peak ------------------------------------------------------------------------------------


def matmul_peak(n: int = 1024, seconds: float = 2.0) -> dict:
    """Dense fp32 ``torch.matmul`` of two n×n matrices: best and median GFLOP/s, batches of 5."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    for _ in range(3):
        torch.matmul(a, b, out=out)
    rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        start = time.perf_counter()
        for _ in range(5):
            torch.matmul(a, b, out=out)
        rates.append(5 * 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return {
        "n": n,
        "best_gflops": round(max(rates), 2),
        "median_gflops": round(statistics.median(rates), 2),
        "batches": len(rates),
    }


# --- report ----------------------------------------------------------------------------------


def summarise(runs: list[dict], flops_per_token: int, peak_gflops: float) -> dict:
    """Every repeat runs the same steps on the same batches, and other work on the machine only
    ever adds time; so the headline loop time is the sum over steps of each step's fastest repeat.
    ``loop_s_each`` are the repeats' own loop times (the best of them is ``loop_s_best_repeat``)."""
    best = min(runs, key=lambda r: r["loop_s"])
    seconds = sum(min(step) for step in zip(*(r["intervals"] for r in runs), strict=True))
    tokens_per_s = best["real_tokens"] / seconds
    model_gflops = flops_per_token * tokens_per_s / 1e9
    summary = {
        "loop_s": round(seconds, 2),
        "loop_s_best_repeat": round(best["loop_s"], 2),
        "loop_s_each": [round(r["loop_s"], 2) for r in runs],
        "cpu_other_processes_pct_each": [r["cpu_other_processes_pct"] for r in runs],
        "train_call_s": round(best["call_s"], 2),
        "steps": best["steps"],
        "real_tokens": best["real_tokens"],
        "positions": best["positions"],
        "real_tokens_per_s": round(tokens_per_s, 1),
        "real_tokens_per_s_best_repeat": round(best["real_tokens"] / best["loop_s"], 1),
        "positions_per_s": round(best["positions"] / seconds, 1),
        # CPU time of this process (all threads) in the loop: less sensitive to sharing the
        # machine than wall time, though OpenMP threads spinning while descheduled inflate it.
        "cpu_s_each": [round(r["cpu_s"], 2) for r in runs],
        "real_tokens_per_cpu_s": round(best["real_tokens"] / min(r["cpu_s"] for r in runs), 1),
        "padding_fraction": round(1 - best["real_tokens"] / best["positions"], 4),
        "final_step_loss": round(best["losses"][-1], 4),
        "train_set_loss_after": round(runs[0]["train_set_loss"], 4),
        "model_gflops": round(model_gflops, 2),
        "fraction_of_peak": round(model_gflops / peak_gflops, 4),
        "fraction_of_peak_incl_padding": round(
            flops_per_token * best["positions"] / seconds / 1e9 / peak_gflops, 4
        ),
    }
    for key in ("optimizer", "trainer_reported_padding_fraction"):
        if key in best:
            summary[key] = best[key]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="48 items, 1 epoch: a smoke run")
    parser.add_argument("--items", type=int, default=None, help="use the first N seed tasks")
    parser.add_argument("--epochs", type=float, default=None, help=f"default {EPOCHS}")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rounds of the budgeted runs, interleaved; each step's fastest counts",
    )
    parser.add_argument(
        "--no-unpacked", action="store_true", help="skip run 4 (ours, unpacked; first round only)"
    )
    parser.add_argument(
        "--no-naive", action="store_true", help="skip run 5 (naive loop; first round only)"
    )
    parser.add_argument(
        "--no-bf16",
        action="store_true",
        help="skip ours and HF grouped in bf16 autocast (first round only)",
    )
    parser.add_argument(
        "--eval-every",
        type=float,
        default=2.0,
        help="seconds of training time between loss measurements (first round)",
    )
    device = parser.add_argument_group("on a device (bench/trainer_gpu.py)")
    device.add_argument(
        "--device",
        choices=["cuda", "cpu"],
        default=None,
        help="run the ~0.5B model FLOPs utilisation benchmark on this device instead (cpu: "
        "a small configuration, as a smoke test)",
    )
    device.add_argument("--batch-size", type=int, default=32, help="examples per micro-batch")
    device.add_argument("--max-len", type=int, default=1024, help="max sequence length")
    device.add_argument("--steps", type=int, default=10, help="timed steps per run")
    device.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    device.add_argument("--peak-tflops", type=float, default=None, help="the card's bf16 peak")
    args = parser.parse_args()
    if args.device:
        from bench import trainer_gpu

        data_dir = Path(os.environ.get("STUDIO_TEST_DATA", ROOT.parent / "shared" / "data"))
        trainer_gpu.main(args, seed_items(data_dir / "seed_tasks.jsonl"), log)
        return
    items_limit = args.items or (48 if args.quick else None)
    epochs = args.epochs or (1 if args.quick else EPOCHS)

    torch.set_num_threads(THREADS)
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    began = time.perf_counter()
    load_at_start = os.getloadavg()

    data_dir = Path(os.environ.get("STUDIO_TEST_DATA", ROOT.parent / "shared" / "data"))
    seed_path = data_dir / "seed_tasks.jsonl"
    if not seed_path.exists():
        print(json.dumps({"benchmark": "trainer", "skipped": f"{seed_path} not found"}, indent=2))
        return
    all_contents = seed_items(seed_path)
    contents = all_contents[:items_limit] if items_limit else all_contents

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_reference(all_contents, Path(tmp) / "reference")
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        # What every trainer is given: the items that survive encoding (one prompt is too long),
        # less the held-out ones.
        fits = [c for c in contents if encode_all(tokenizer, [c], max_seq_len=MAX_LEN)[0]]
        kept, held_out = quality.split_held_out(fits, HELD_OUT_EVERY)
        examples, stats = encode_all(tokenizer, kept, max_seq_len=MAX_LEN)
        stats.dropped += len(contents) - len(fits)
        initial = fresh_model(model_dir)
        params = param_counts(initial)
        # 6 × N × tokens, N without the input embedding (a lookup, no multiply); attention
        # scores (QK^T, AV) are left out, which understates long packed rows slightly.
        flops_per_token = 6 * params["non_embedding"]
        eval_cfg = our_config(packing=False, epochs=1)
        initial_loss = evaluate_loss(initial, tokenizer, kept, eval_cfg)
        initial_held_out = evaluate_loss(initial, tokenizer, held_out, eval_cfg)
        del initial

        def probe() -> quality.Probe:
            return quality.Probe(
                tokenizer,
                kept,
                held_out,
                eval_cfg,
                args.eval_every,
                quality.Stopwatch(),
                (initial_loss, initial_held_out),
            )

        log("warm-up (discarded): a few steps of each trainer")
        hf_run(model_dir, tokenizer, examples[:32], "random", 1, max_steps=2)
        train(fresh_model(model_dir), tokenizer, kept[:32], our_config(True, 1, max_steps=1))

        # Each run takes the probe that measures its losses (first round) or None.
        plan = {
            "hf_default": lambda p: hf_run(model_dir, tokenizer, examples, "random", epochs, p),
            "hf_grouped": lambda p: hf_run(
                model_dir, tokenizer, examples, "group_by_length", epochs, p
            ),
            "ours_packed": lambda p: our_run(model_dir, tokenizer, kept, examples, True, epochs, p),
        }
        if not args.no_unpacked:
            plan["ours_unpacked"] = lambda p: our_run(
                model_dir, tokenizer, kept, examples, False, epochs, p
            )
        if not args.no_bf16:
            plan["ours_packed_bf16"] = lambda p: our_run(
                model_dir, tokenizer, kept, examples, True, epochs, p, precision="bf16"
            )
            plan["hf_grouped_bf16"] = lambda p: hf_run(
                model_dir, tokenizer, examples, "group_by_length", epochs, p, bf16=True
            )
        if not args.no_naive:
            plan["naive"] = lambda p: naive_run(model_dir, tokenizer, examples, epochs)
        probes: dict[str, quality.Probe] = {}
        peaks = [matmul_peak()]
        raw: dict[str, list[dict]] = {name: [] for name in plan}
        for round_ in range(args.repeats):
            # Every other round runs backwards, so a slow drift in the machine's load hits
            # every run alike.
            # ours_unpacked and naive (not budgeted) run in the first round only, to keep the run
            # short.
            once = ("ours_unpacked", "naive", "ours_packed_bf16", "hf_grouped_bf16")
            order = [(n, r) for n, r in plan.items() if round_ == 0 or n not in once]
            for name, run in order if round_ % 2 == 0 else order[::-1]:
                machine = MachineShare()
                measured = probe() if round_ == 0 and name != "naive" else None
                result = run(measured)
                if measured:
                    probes[name] = measured
                result["cpu_other_processes_pct"] = machine.other_pct()
                model = result.pop("model")
                if round_ == 0:  # deterministic: the same weights every round
                    result["train_set_loss"] = evaluate_loss(model, tokenizer, kept, eval_cfg)
                del model
                raw[name].append(result)
                log(
                    f"round {round_ + 1}/{args.repeats} {name}: {result['loop_s']:.1f} s, "
                    f"other processes {result['cpu_other_processes_pct']}% of the CPUs"
                )
            peaks.append(matmul_peak())
        log(f"matmul peaks {[p['best_gflops'] for p in peaks]} GFLOP/s")

    peak = max(p["best_gflops"] for p in peaks)
    measured = {
        name: (probe.points, quality.step_clock([r["intervals"] for r in raw[name]]))
        for name, probe in probes.items()
    }
    to_quality = quality.report(
        {n: m for n, m in measured.items() if not n.endswith("_bf16")},
        reference="hf_default",
        ours="ours_packed",
        rivals=MIN_TIME_RATIOS,
        tolerance=TARGET_TOLERANCE,
    )
    if "ours_packed_bf16" in measured:
        # Both trainers in bf16 autocast (fp32 master weights), against the same fp32 target.
        to_quality["bf16"] = quality.report(
            measured,
            reference="hf_default",
            ours="ours_packed_bf16",
            rivals={**MIN_TIME_RATIOS, "hf_grouped_bf16": MIN_TIME_RATIOS["hf_grouped"]},
            tolerance=TARGET_TOLERANCE,
        )
    runs = {name: summarise(r, flops_per_token, peak) for name, r in raw.items()}
    ours, default, grouped = runs["ours_packed"], runs["hf_default"], runs["hf_grouped"]
    vs_default = ours["real_tokens_per_s"] / default["real_tokens_per_s"]
    vs_grouped = ours["real_tokens_per_s"] / grouped["real_tokens_per_s"]
    budget = {
        "ratio_to_hf_default_min": MIN_RATIO_TO_DEFAULT,
        "ratio_to_hf_default_met": vs_default >= MIN_RATIO_TO_DEFAULT,
        "above_hf_grouped_met": vs_grouped > 1.0,
        "padding_max": MAX_PADDING,
        "padding_met": ours["padding_fraction"] < MAX_PADDING,
    }
    budget["met"] = all(v for k, v in budget.items() if k.endswith("_met"))
    checks: dict = {}
    ratios = {
        "ours_over_hf_default_tokens_per_s": round(vs_default, 3),
        "ours_over_hf_grouped_tokens_per_s": round(vs_grouped, 3),
        "ours_over_hf_default_best_repeat": round(
            ours["real_tokens_per_s_best_repeat"] / default["real_tokens_per_s_best_repeat"], 3
        ),
        "ours_over_hf_grouped_best_repeat": round(
            ours["real_tokens_per_s_best_repeat"] / grouped["real_tokens_per_s_best_repeat"], 3
        ),
        "ours_over_hf_default_per_cpu_s": round(
            ours["real_tokens_per_cpu_s"] / default["real_tokens_per_cpu_s"], 3
        ),
        "ours_over_hf_grouped_per_cpu_s": round(
            ours["real_tokens_per_cpu_s"] / grouped["real_tokens_per_cpu_s"], 3
        ),
        "ours_over_reference_default": round(
            ours["real_tokens_per_s"] / REFERENCE["hf_default_tokens_per_s"], 3
        ),
        "ours_over_reference_grouped": round(
            ours["real_tokens_per_s"] / REFERENCE["hf_grouped_tokens_per_s"], 3
        ),
    }
    if "ours_unpacked" in runs:
        unpacked = runs["ours_unpacked"]["real_tokens_per_s"]
        ratios["ours_packed_over_ours_unpacked_tokens_per_s"] = round(
            ours["real_tokens_per_s"] / unpacked, 3
        )
        ratios["ours_unpacked_over_hf_default_tokens_per_s"] = round(
            unpacked / default["real_tokens_per_s"], 3
        )
        # Same tokens, masks, batch order and schedule as HF's default run: the losses must agree.
        ours_losses, hf_losses = raw["ours_unpacked"][0]["losses"], raw["hf_default"][0]["losses"]
        checks["ours_unpacked_vs_hf_default_max_step_loss_diff"] = (
            round(max(abs(a - b) for a, b in zip(ours_losses, hf_losses, strict=True)), 5)
            if len(ours_losses) == len(hf_losses)
            else f"step counts differ: {len(ours_losses)} vs {len(hf_losses)}"
        )
    if "naive" in runs:
        ratios["ours_over_naive_tokens_per_s"] = round(
            ours["real_tokens_per_s"] / runs["naive"]["real_tokens_per_s"], 3
        )
    report = {
        "benchmark": "trainer",
        "quick": args.quick,
        "items": len(contents),
        "examples": len(examples),
        "held_out_items": len(held_out),
        "encode": {
            "dropped": stats.dropped,
            "truncated": stats.truncated,
            "prefix_mismatches": stats.prefix_mismatches,
        },
        "tokens_per_epoch": sum(len(e) for e in examples),
        "epochs": epochs,
        "repeats": args.repeats,
        "settings": {
            "hidden": HIDDEN,
            "layers": LAYERS,
            "heads": HEADS,
            "intermediate": INTERMEDIATE,
            "vocab": len(tokenizer),
            "batch_size": BATCH_SIZE,
            "max_len": MAX_LEN,
            "learning_rate": LEARNING_RATE,
            "method": "full fine-tuning, fp32, SDPA attention",
            "schedule": "linear decay, no warmup (HF default; ours set to match)",
            "hf_grouped_option": 'train_sampling_strategy="group_by_length"',
            "hf_collator": "DataCollatorForSeq2Seq(label_pad_token_id=-100)",
            "timing": "loop_s: sum over steps of each step's fastest repeat; HF: on_train_begin "
            "to on_train_end; ours: the whole train() call, which also encodes, packs and "
            "collates",
        },
        "params": params,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_at_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "matmul_peak": {
            "n": peaks[0]["n"],
            "best_gflops_each": [p["best_gflops"] for p in peaks],
            "median_gflops_each": [p["median_gflops"] for p in peaks],
            "peak_gflops": peak,
        },
        "flops_formula": "6 x non-embedding params x real tokens / loop_s (attention scores "
        "excluded); fraction_of_peak_incl_padding counts padded positions too",
        "initial_train_set_loss": round(initial_loss, 4),
        "time_to_quality": {"eval_every_s": args.eval_every, **to_quality},
        "runs": runs,
        "ratios": ratios,
        "checks": checks,
        "reference": REFERENCE,
        "budget": budget,
        "total_s": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
