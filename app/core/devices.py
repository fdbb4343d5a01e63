"""A trainer worker's device as it reports it when it asks for work, and the one rule for what
a job asks of a device, which the app (the claim, the launch) and the worker apply alike.

A job may ask for two things a device may lack:

- ``precision='bf16'``: a device that computes in bfloat16 natively, a CUDA GPU of compute
  capability 8.0 or newer (A100, H100, RTX 30 series and later) or a CPU whose PyTorch has
  bf16 autocast. Older GPUs would emulate it, slower than fp32.
- ``quantization='4bit'``: a CUDA GPU with the bitsandbytes package installed.

The automatic choices (``precision='auto'``, ``quantization='none'``) run on every device, so
they never count against one. A device is what the worker reports, so a worker that sends no
report is known to run only those.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

DeviceKind = Literal["cpu", "cuda", "mps"]
# Bytes of memory a report may state: far above any machine (8 EiB), and a 64-bit column.
MAX_BYTES = 2**63 - 1
GIB = 1024**3


class WorkerDevice(BaseModel):
    """What a worker trains on: a CPU, or the GPU(s) one job uses (data parallel)."""

    kind: DeviceKind = Field(description="'cpu', 'cuda' or 'mps'.")
    name: str = Field(default="", max_length=200, description="The GPU's or CPU's model name.")
    devices: int = Field(
        default=1, ge=1, le=1024, description="GPUs one job uses (data parallel); 1 on a CPU."
    )
    memory_bytes: int | None = Field(
        default=None, ge=0, le=MAX_BYTES, description="Memory per device (the RAM on a CPU)."
    )
    free_bytes: int | None = Field(
        default=None, ge=0, le=MAX_BYTES, description="Free memory per device, when it asked."
    )
    bf16: bool = Field(default=False, description="It computes in bfloat16 natively.")
    four_bit: bool = Field(
        default=False, description="It loads 4-bit weights: CUDA with bitsandbytes installed."
    )


class Asks(Protocol):
    """The two parameters of a job (``app.core.protocol.JobParams``) a device may not run."""

    precision: str
    quantization: str


Need = Literal["four_bit", "bf16"]
# Each need (a WorkerDevice field) and the parameter value (a JobParams field) that asks it.
NEEDS: dict[Need, tuple[str, str]] = {
    "four_bit": ("quantization", "4bit"),
    "bf16": ("precision", "bf16"),
}


def needs(params: Asks) -> list[Need]:
    """What ``params`` asks of a device beyond what every device runs."""
    return [need for need, (field, value) in NEEDS.items() if getattr(params, field) == value]


def lacks(params: Asks, device: WorkerDevice | None) -> list[Need]:
    """What ``params`` asks that ``device`` (None: a worker that reported nothing) lacks."""
    return [need for need in needs(params) if device is None or not getattr(device, need)]


def describe(device: WorkerDevice) -> str:
    """One device in a few words, for a sentence: "CPU (AMD EPYC 7B13, 31 GiB)", "2 × CUDA
    NVIDIA A100-SXM4-80GB (79 GiB each, bf16, 4-bit)"."""
    kind = {"cpu": "CPU", "cuda": "CUDA", "mps": "Apple MPS"}[device.kind]
    head = f"{device.devices} × {kind}" if device.devices > 1 else kind
    details = []
    if device.kind != "cpu" and device.name:
        head += f" {device.name}"
    elif device.name:
        details.append(device.name)
    if device.memory_bytes:
        each = " each" if device.devices > 1 else ""
        details.append(f"{device.memory_bytes / GIB:.0f} GiB{each}")
    if device.kind != "cpu" or not device.bf16:
        details.append("bf16" if device.bf16 else "no bf16")
    if device.kind == "cuda":
        details.append("4-bit" if device.four_bit else "no bitsandbytes")
    return f"{head} ({', '.join(details)})" if details else head
