"""``bench/trainer.py --device cuda``: our trainer on a GPU, at a size people tune.

A Llama configuration of about 0.5B parameters (hidden 1024, 24 layers, 16 heads, intermediate
4096, vocabulary 32,000; randomly initialised, nothing downloaded) trains on the Self-Instruct
seed tasks, tokenized by a BPE tokenizer trained on them, with the trainer's own
``trainer.train.train`` and ``precision='auto'`` (bf16 on a GPU that has it). Eight runs: LoRA
and full fine-tuning, packed and unpacked, gradient checkpointing off and on; each takes
``--warmup`` steps, then ``--steps`` timed ones (the clock stops at ``torch.cuda.synchronize``).

Each run reports real tokens per second, peak memory (``torch.cuda.max_memory_allocated``)
and model FLOPs utilisation against the card's dense bf16 peak (``PEAK_TFLOPS`` by name, or
``--peak-tflops``): model FLOPs are 6·N per real token for full fine-tuning and 4·N for LoRA
(the frozen weights need no weight gradients; the adapter's own are negligible), N the
non-embedding parameters, plus attention's 12·layers·hidden·mean context per token (6·… under
LoRA's 4·N accounting, scaled alike); recomputation under gradient checkpointing is not model
work, so it lowers the figure, as it should. ``--device cpu`` runs the same script on a small
configuration as a smoke test (no peak: MFU is left out).
"""

from __future__ import annotations

import json
import math
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from app.core.protocol import JobParams
from trainer.data import encode_all
from trainer.tiny import train_tokenizer
from trainer.train import make_objective, train

# Dense bf16 tensor-core peaks (TFLOP/s, without sparsity) by a substring of the device name.
PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 756.0,  # an H100 the name does not place: the lower (PCIe) figure
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 125.0,
    "RTX 4090": 165.0,
}
GPU_SHAPE = {"hidden": 1024, "layers": 24, "heads": 16, "intermediate": 4096, "vocab": 32000}
CPU_SHAPE = {"hidden": 64, "layers": 2, "heads": 4, "intermediate": 176, "vocab": 2000}


def peak_tflops(name: str, given: float | None) -> float | None:
    if given:
        return given
    for key, value in PEAK_TFLOPS.items():
        if key in name:
            return value
    return None


def build(shape: dict, tokenizer, device: torch.device):
    config = LlamaConfig(
        vocab_size=max(shape["vocab"], len(tokenizer)),
        hidden_size=shape["hidden"],
        intermediate_size=shape["intermediate"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        num_key_value_heads=shape["heads"],
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    with torch.device(device):
        return LlamaForCausalLM(config)


def flops_per_token(model, method: str, mean_context: float) -> float:
    n = sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()
    c = model.config
    attention = 12 * c.num_hidden_layers * c.hidden_size * mean_context
    return (6 if method == "full" else 4) * n + attention * (1 if method == "full" else 4 / 6)


def one_run(shape, tokenizer, contents, device, args, *, method, packing, checkpointing) -> dict:
    model = build(shape, tokenizer, device)
    cfg = JobParams(
        method=method,
        lora_targets=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        max_steps=args.warmup + args.steps,
        learning_rate=1e-4,
        warmup_ratio=0.0,
        schedule="constant",
        batch_size=args.batch_size,
        max_seq_len=args.max_len,
        packing=packing,
        gradient_checkpointing=checkpointing,
        checkpoint_interval=10**6,
        eval_interval=10**6,
        seed=0,
    )
    objective = make_objective(tokenizer, contents, cfg)
    batches = objective.batches(model, cfg)
    real = [b["n_tokens"] - b["n_pad"] for b in batches.all()]
    widths = [b["input_ids"].shape[1] for b in batches.all()]
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    marks: list[float] = []

    def on_step(step: int, metrics: dict) -> None:
        if cuda:
            torch.cuda.synchronize()
        marks.append(time.perf_counter())

    result = train(model, tokenizer, objective, cfg, on_step=on_step)
    timed = marks[args.warmup - 1 :]  # from the end of the last warm-up step
    seconds = timed[-1] - timed[0]
    per_epoch = len(real)
    tokens = sum(real[i % per_epoch] for i in range(args.warmup, args.warmup + args.steps))
    # Attention's mean context: half a packed example's length, or half the padded width.
    example = sum(len(e) for e in objective.examples) / len(objective.examples)
    context = example / 2 if packing else sum(widths) / len(widths) / 2
    flops = flops_per_token(result.model, method, context) * tokens / seconds
    run = {
        "method": method,
        "packing": packing,
        "gradient_checkpointing": checkpointing,
        "steps_timed": args.steps,
        "seconds": round(seconds, 3),
        "real_tokens_per_s": round(tokens / seconds, 1),
        "real_tokens_per_step": round(tokens / args.steps, 1),
        "padding_fraction": round(result.padding_fraction, 4),
        "model_tflops": round(flops / 1e12, 3),
        "final_loss": round(result.losses[-1], 4),
    }
    if cuda:
        run["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    if args.peak:
        run["mfu"] = round(flops / 1e12 / args.peak, 4)
    del model, result, objective
    if cuda:
        torch.cuda.empty_cache()
    return run


def main(args, contents, log) -> None:
    """Runs the eight configurations and prints one JSON object."""
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"benchmark": "trainer_gpu", "skipped": "no CUDA device"}, indent=2))
        return
    shape = GPU_SHAPE if device.type == "cuda" else CPU_SHAPE
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    args.peak = peak_tflops(name, args.peak_tflops) if device.type == "cuda" else None
    texts = [f"{c.instruction}\n{c.input}\n{c.output}" for c in contents]
    tokenizer = train_tokenizer(texts, vocab_size=min(shape["vocab"], 8000))
    examples, _ = encode_all(tokenizer, contents, max_seq_len=args.max_len)
    began = time.perf_counter()
    runs = []
    for method in ("lora", "full"):
        for packing in (True, False):
            for checkpointing in (False, True):
                log(f"{method} packing={packing} checkpointing={checkpointing}")
                runs.append(
                    one_run(
                        shape,
                        tokenizer,
                        contents,
                        device,
                        args,
                        method=method,
                        packing=packing,
                        checkpointing=checkpointing,
                    )
                )
    params = build(shape, tokenizer, torch.device("meta"))
    report = {
        "benchmark": "trainer_gpu",
        "device": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "shape": shape,
        "parameters": sum(p.numel() for p in params.parameters()),
        "precision": "auto (bf16 where the GPU has it)",
        "batch_size": args.batch_size,
        "max_len": args.max_len,
        "examples": len(examples),
        "mean_example_tokens": round(sum(map(len, examples)) / len(examples), 1),
        "peak_bf16_tflops": args.peak,
        "flops_formula": "full: 6N + 12·L·h·ctx per real token; LoRA: 4N + 8·L·h·ctx; N "
        "non-embedding parameters, ctx the mean attended context; recomputation not counted",
        "runs": runs,
        "total_s": round(time.perf_counter() - began, 1),
    }
    best = max(runs, key=lambda r: r.get("mfu", 0) or r["real_tokens_per_s"])
    report["best"] = {k: best[k] for k in ("method", "packing", "gradient_checkpointing")}
    if not math.isfinite(sum(r["final_loss"] for r in runs)):
        report["warning"] = "a run's loss is not finite"
    print(json.dumps(report, indent=2))
