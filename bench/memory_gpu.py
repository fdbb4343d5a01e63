"""The launch form's memory estimate (``app.core.memory``) against what a GPU measures.

On a CUDA GPU it builds a randomly initialised Llama of about 0.5B parameters (Qwen2.5-0.5B's
shape: 24 layers, hidden 896, 14 query heads and 2 key/value heads, a 151,936-token tied
vocabulary; no download) and, for each setting below (full fine-tuning and LoRA, gradient
checkpointing off and on, bf16, and one LoRA run in fp32), holds it as the trainer does (full:
fp32 master weights under bf16 autocast; LoRA: the base in bf16 when computing in bf16, the
adapter fp32; checkpointing non-reentrant: ``trainer.train.prepare_model``), runs two steps of
the trainer's loss (``trainer.train.loss_sum``) and optimizer (``make_optimizer``, fused AdamW)
on one micro-batch of rows × width tokens with the 4D boolean mask packed rows carry, and
prints one JSON object comparing, per setting:

- ``peak``: ``torch.cuda.max_memory_allocated`` over both steps against the estimate's total;
- ``weights``: what the model holds once prepared against the estimate's weights;
- ``optimizer``: AdamW's state tensors after the first step against the estimate's;
- ``step``: the peak of the second step above what it started with (weights and optimizer state)
  against the estimate's weight copies + gradients + activations.

Without a CUDA GPU (or without torch) it prints ``{"benchmark": "memory_gpu", "skipped": ...}``
and exits 0. It is sized to take well under three minutes on one H100 (five model builds and
ten steps of a 0.5B model); no GPU run of it is recorded yet.

    .venv/bin/python bench/memory_gpu.py > memory_gpu.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from app.core import architecture, memory  # noqa: E402
from app.core.protocol import JobParams  # noqa: E402

CONFIG = {
    "model_type": "llama",
    "vocab_size": 151936,
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "tie_word_embeddings": True,
    "max_position_embeddings": 4096,
}
# (method, bf16, gradient checkpointing, rows, width)
SETTINGS = [
    ("full", True, False, 4, 1024),
    ("full", True, True, 4, 1024),
    ("lora", True, False, 8, 1024),
    ("lora", True, True, 8, 1024),
    ("lora", False, False, 4, 512),
]
STEPS = 2
DEVICE = "cuda"


def log(message: str) -> None:
    print(f"[bench/memory_gpu] {message}", file=sys.stderr, flush=True)


def prepared(torch, params: JobParams):
    """The model on the GPU as the trainer holds it for ``params``: built there in fp32, then
    ``trainer.train.prepare_model`` (its weights' dtype, checkpointing, the LoRA adapter)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from trainer.train import prepare_model

    torch.manual_seed(0)
    shape = {k: v for k, v in CONFIG.items() if k != "model_type"}
    with torch.device(DEVICE):
        model = LlamaForCausalLM(LlamaConfig(**shape))
    return prepare_model(model, params).train()


def batch(torch, rows: int, width: int) -> dict:
    """One micro-batch as ``trainer.data.collate_packed`` lays it out: a row per example here,
    with its 4D block-diagonal (here: causal) boolean mask."""
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, CONFIG["vocab_size"], (rows, width), generator=generator)
    mask = torch.ones(rows, 1, width, width, dtype=torch.bool).tril()
    positions = torch.arange(width).expand(rows, width)
    tensors = {"input_ids": ids, "labels": ids, "position_ids": positions, "attention_mask": mask}
    return {name: t.to(DEVICE) for name, t in tensors.items()}


def loss(model, data: dict):
    """The trainer's loss (``trainer.train.loss_sum``) over the micro-batch's targets."""
    from trainer.train import loss_sum

    total, count = loss_sum(model, data)
    return total / count


def measure(torch, arch, method: str, bf16: bool, checkpointing: bool, rows: int, width: int):
    from trainer.train import make_optimizer

    params = JobParams(
        method=method, precision="bf16" if bf16 else "fp32", gradient_checkpointing=checkpointing
    )
    estimate = memory.estimate(arch, params, memory.MicroBatch(rows, width), bf16=bf16)
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    model = prepared(torch, params)
    weights = torch.cuda.memory_allocated() - base
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(trainable, params)
    data = batch(torch, rows, width)
    inputs = torch.cuda.memory_allocated() - base - weights
    peak = step_peak = resident = optimizer_state = 0
    for step in range(STEPS):
        resident = torch.cuda.memory_allocated() - base
        torch.cuda.reset_peak_memory_stats()
        loss(model, data).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        top = torch.cuda.max_memory_allocated() - base
        peak = max(peak, top)
        step_peak = top - resident
        if step == 0:
            optimizer_state = sum(
                t.numel() * t.element_size()
                for state in optimizer.state.values()
                for t in state.values()
                if torch.is_tensor(t) and t.dim() > 0  # not the step counters
            )
    seconds = time.perf_counter() - started
    del model, optimizer, data
    torch.cuda.empty_cache()
    step_estimate = estimate.weight_copies + estimate.gradients + estimate.activations.total

    def pair(measured: int, estimated: int) -> dict:
        return {
            "measured": measured,
            "estimated": estimated,
            "ratio": round(estimated / measured, 3) if measured else None,
        }

    return {
        "method": method,
        "precision": "bf16" if bf16 else "fp32",
        "gradient_checkpointing": checkpointing,
        "micro_batch": [rows, width],
        "peak": pair(peak, estimate.total),
        "weights": pair(weights, estimate.weights),
        "optimizer": pair(optimizer_state, estimate.optimizer),
        "step": pair(step_peak, step_estimate),
        "inputs_bytes": inputs,  # the batch on the GPU, which the estimate leaves out
        "estimate_parts": {
            "weights": estimate.weights,
            "weight_copies": estimate.weight_copies,
            "gradients": estimate.gradients,
            "optimizer": estimate.optimizer,
            "activations": estimate.activations.total,
            "activations_layers": estimate.activations.layers,
            "activations_logits": estimate.activations.logits,
            "activations_recomputed": estimate.activations.recomputed,
            "activations_masks": estimate.activations.masks,
            "activations_final": estimate.activations.final,
        },
        "seconds": round(seconds, 1),
    }


def main() -> int:
    try:
        import torch
    except ImportError:
        print(json.dumps({"benchmark": "memory_gpu", "skipped": "torch is not installed"}))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "memory_gpu", "skipped": "no CUDA GPU on this machine"}))
        return 0
    import peft
    import transformers

    arch = architecture.from_config(CONFIG)
    runs = []
    for setting in SETTINGS:
        log(f"{setting}")
        runs.append(measure(torch, arch, *setting))
    report = {
        "benchmark": "memory_gpu",
        "gpu": torch.cuda.get_device_name(),
        "gpu_memory_bytes": torch.cuda.get_device_properties(0).total_memory,
        "model": CONFIG,
        "parameters": arch.parameters().total,
        "runs": runs,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "cuda": torch.version.cuda,
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
