"""What this worker trains on, as it reports it when it asks for work
(``app.core.devices.WorkerDevice``), and its refusal of a job its device cannot run.

The device is the one ``trainer.ranks.device_for_rank`` trains on: the GPU (under torchrun,
one per rank) or the CPU. It is probed once when the worker starts; the free memory is read
again before each claim, cheaply (``cudaMemGetInfo``, or ``/proc/meminfo``).

A job that asks for what the device lacks (``app.core.devices.lacks``) is refused before any
model is loaded, with a sentence: the worker reports it as the job's error (``CannotRun``).
The app hands such a job only to a worker whose report says it can run it, so this is the
last line, for a worker whose report was wrong or a job created past the launch checks.
"""

from __future__ import annotations

import importlib.util
import os
import platform

from app.core.devices import WorkerDevice, describe, lacks

FOUR_BIT_IS_FOR_LORA = (
    "4-bit loading is for LoRA: a full fine-tune trains every weight, and 4-bit weights cannot "
    "be trained. Launch it with method 'lora', or without 4-bit loading."
)


class CannotRun(RuntimeError):
    """This worker cannot run the job as asked; the message is a sentence for the person who
    launched it (the worker reports it as it is, without the exception's name)."""


def probe(*, ranks: int = 1) -> WorkerDevice:
    """This worker's device; ``ranks`` GPUs train one job under torchrun."""
    import torch

    from trainer.ranks import device_for_rank

    device = device_for_rank()
    if device.type == "cuda":
        index = device.index or 0
        free, total = torch.cuda.mem_get_info(index)
        return WorkerDevice(
            kind="cuda",
            name=torch.cuda.get_device_name(index)[:200],
            devices=max(1, ranks),
            memory_bytes=total,
            free_bytes=free,
            bf16=torch.cuda.is_bf16_supported(including_emulation=False),
            four_bit=has_bitsandbytes(),
        )
    total, available = memory()
    return WorkerDevice(
        kind="cpu",
        name=cpu_name()[:200],
        devices=1,
        memory_bytes=total,
        free_bytes=available,
        bf16=cpu_bf16(),
        four_bit=False,
    )


def refresh(device: WorkerDevice) -> WorkerDevice:
    """``device`` with its free memory read again."""
    if device.kind == "cuda":
        import torch

        from trainer.ranks import device_for_rank

        free, _total = torch.cuda.mem_get_info(device_for_rank().index or 0)
    else:
        free = memory()[1]
    return device.model_copy(update={"free_bytes": free})


def has_bitsandbytes() -> bool:
    """Whether bitsandbytes is installed (found, not imported: importing it is slow and
    prints; only a 4-bit job imports it)."""
    return importlib.util.find_spec("bitsandbytes") is not None


def cpu_bf16() -> bool:
    """Whether bf16 autocast works on this CPU's PyTorch: one 2×2 product."""
    import torch

    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = torch.ones(2, 2) @ torch.ones(2, 2)
    except RuntimeError:
        return False
    return out.dtype == torch.bfloat16


def memory() -> tuple[int | None, int | None]:
    """The machine's RAM: (total, available) in bytes, from /proc/meminfo where there is one."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        kib = {k: int(v.split()[0]) * 1024 for k, v in fields.items() if v.split()}
        return kib.get("MemTotal"), kib.get("MemAvailable")
    except (OSError, ValueError):
        pass
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return None, None


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def refusal(params, device: WorkerDevice) -> str | None:
    """Why ``device`` cannot run a job with ``params`` (``JobParams``), or None."""
    if params.quantization == "4bit" and params.method != "lora":
        return FOUR_BIT_IS_FOR_LORA
    missing = lacks(params, device)
    has = describe(device)
    if "four_bit" in missing:
        return (
            "4-bit loading needs a CUDA GPU and the bitsandbytes package "
            f"(pip install '.[qlora]'); this worker has: {has}."
        )
    if "bf16" in missing:
        return (
            "bf16 needs a device that computes in bfloat16: a CUDA GPU of compute capability 8.0 "
            f"or newer, or a CPU whose PyTorch has bf16 autocast; this worker has: {has}. "
            "Launch the job with precision 'auto' or 'fp32'."
        )
    return None


def check(params, device: WorkerDevice | None = None) -> None:
    """Refuse (``CannotRun``) a job this worker's device cannot run."""
    if params.quantization != "4bit" and params.precision != "bf16":
        return  # every device runs the rest: no need to probe
    refused = refusal(params, device or probe())
    if refused:
        raise CannotRun(refused)
