"""The two sides of bench/dpo.py, each run in a child process of its own: our trainer, and
TRL's ``DPOTrainer`` (imported only here, in the benchmark's own virtual environment), on the
same model, pairs, order and settings. Each returns its timings, losses and memory."""

from __future__ import annotations

import platform
import resource
import time
from pathlib import Path

# The settings both sides train with.
BATCH_SIZE, MAX_LEN, LEARNING_RATE, BETA, SEED = 8, 512, 1e-5, 0.1, 42


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory(torch, rss_start: float) -> dict:
    out = {"rss_after_load_mb": rss_start, "rss_peak_mb": _rss_mb("VmHWM")}
    out["rss_growth_mb"] = out["rss_peak_mb"] - rss_start
    if torch.cuda.is_available():
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def child_ours(workdir: Path, loaded: dict) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from app.core.kinds import ItemContent
    from app.core.protocol import JobParams
    from trainer.train import make_objective, train

    contents = [ItemContent(**r["content"]) for r in loaded["rows"]]
    tokenizer = AutoTokenizer.from_pretrained(workdir / "model")
    model = AutoModelForCausalLM.from_pretrained(workdir / "model")
    cfg = JobParams(
        objective="dpo",
        method="full",
        epochs=1,
        batch_size=BATCH_SIZE,
        max_seq_len=MAX_LEN,
        learning_rate=LEARNING_RATE,
        schedule="constant",
        warmup_ratio=0.0,
        weight_decay=0.0,
        max_grad_norm=None,
        dpo_beta=BETA,
        seed=SEED,
    )
    rss_start = _rss_mb("VmRSS")
    losses: list[float] = []
    started = time.perf_counter()
    objective = make_objective(tokenizer, contents, cfg)
    scored = objective.setup  # encoding and the reference's scores are the setup; then the loop

    def setup(*args):
        scored(*args)
        marks["ready"] = time.perf_counter()

    marks: dict[str, float] = {}
    objective.setup = setup
    result = train(model, tokenizer, objective, cfg, on_step=lambda s, v: losses.append(v["loss"]))
    ended = time.perf_counter()
    return {
        "seconds": ended - started,
        "loop_seconds": ended - marks["ready"],
        "losses": losses,
        "steps": result.step,
        **_memory(torch, rss_start),
    }


def child_trl(workdir: Path, loaded: dict, *, precompute: bool) -> dict:
    import datasets
    import torch
    import transformers
    import trl
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    losses: list[float] = []

    class Recorded(DPOTrainer):
        """Records each training step's exact loss (the log rounds it)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if model.training:
                losses.append(float((out[0] if return_outputs else out).detach()))
            return out

    rows = [loaded["rows"][i] for i in loaded["order"]]  # our first epoch's order
    dataset = datasets.Dataset.from_list(
        [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]
    )
    tokenizer = AutoTokenizer.from_pretrained(workdir / "model")
    model = AutoModelForCausalLM.from_pretrained(workdir / "model")
    cuda = torch.cuda.is_available()
    config = DPOConfig(
        output_dir=str(workdir / "trl"),
        per_device_train_batch_size=BATCH_SIZE,
        gradient_accumulation_steps=1,
        num_train_epochs=1,
        learning_rate=LEARNING_RATE,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=0.0,
        beta=BETA,
        loss_type=["sigmoid"],
        max_length=MAX_LEN,
        precompute_ref_log_probs=precompute,
        train_sampling_strategy="sequential",
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=SEED,
        bf16=cuda,
        use_cpu=not cuda,
        dataloader_num_workers=0,
    )
    rss_start = _rss_mb("VmRSS")
    started = time.perf_counter()
    trainer = Recorded(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    ready = time.perf_counter()
    trainer.train()
    ended = time.perf_counter()
    return {
        "seconds": ended - started,
        "loop_seconds": ended - ready,
        "losses": losses,
        "steps": trainer.state.global_step,
        **_memory(torch, rss_start),
        "versions": {
            "trl": trl.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "datasets": datasets.__version__,
            "python": platform.python_version(),
        },
    }


def epoch_tokens(workdir: Path, loaded: dict) -> int:
    """Non-padding positions of one epoch, as our encoder (and so TRL's) lays them out."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(workdir / "model")
    total = 0
    for row in loaded["rows"]:
        for answer in (row["chosen"], row["rejected"]):
            ids = tokenizer(row["prompt"] + answer + tokenizer.eos_token)["input_ids"]
            total += min(len(ids), MAX_LEN)
    return total
