"""What the worker reports of its device (probed on this machine, a CPU), and its refusal of a
job the device cannot run: before anything is built, and without importing bitsandbytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.core.devices import WorkerDevice
from app.core.job_paths import JobFolder
from app.core.protocol import JobParams, JobSpec
from trainer import device
from trainer.start import load_start

REPO = Path(__file__).resolve().parents[2]


def test_a_cpu_reports_its_name_memory_and_bf16():
    found = device.probe()
    assert found.kind == "cpu" and found.devices == 1 and found.name
    assert found.memory_bytes > 2**30 and 0 < found.free_bytes <= found.memory_bytes
    assert found.bf16  # this machine's torch has bf16 autocast on the CPU
    assert not found.four_bit
    fresh = device.refresh(found.model_copy(update={"free_bytes": 1}))
    assert fresh.free_bytes > 1 and fresh.memory_bytes == found.memory_bytes


def test_the_refusals_are_sentences():
    cpu = WorkerDevice(kind="cpu", name="AMD EPYC 7B13", memory_bytes=24 * 2**30, bf16=True)
    qlora = JobParams(method="lora", quantization="4bit")
    assert device.refusal(qlora, cpu) == (
        "4-bit loading needs a CUDA GPU and the bitsandbytes package (pip install '.[qlora]'); "
        "this worker has: CPU (AMD EPYC 7B13, 24 GiB)."
    )
    full = JobParams(method="full", quantization="4bit")
    assert device.refusal(full, cpu).startswith("4-bit loading is for LoRA:")
    t4 = WorkerDevice(kind="cuda", name="Tesla T4", bf16=False, four_bit=True)
    assert device.refusal(qlora, t4) is None
    assert device.refusal(JobParams(precision="bf16"), t4).startswith(
        "bf16 needs a device that computes in bfloat16"
    )
    assert device.refusal(JobParams(), t4) is None


def test_a_4bit_job_is_refused_before_the_model_is_built(tmp_path):
    spec = JobSpec(
        job_id=1,
        attempt=1,
        dataset_version_id=1,
        base_model="tiny",
        params=JobParams(method="lora", quantization="4bit"),
        lease_seconds=60,
        artifact_dir=str(tmp_path / "jobs" / "1"),
    )
    with pytest.raises(device.CannotRun, match=r"this worker has: CPU \("):
        load_start(spec, ["some text"], JobFolder(tmp_path / "jobs" / "1"))
    assert not (tmp_path / "jobs" / "1" / "base").exists()


def test_bitsandbytes_is_never_imported_unless_4bit_is_asked():
    """In a fresh interpreter: the worker's probe and a bf16 job's load options leave it out.
    Where it is installed an import would show in ``sys.modules``; where it is not (here), the
    import itself would fail the run."""
    code = (
        "import sys, torch\n"
        "from app.core.protocol import JobParams\n"
        "from trainer import device, precision\n"
        "device.probe()\n"
        "precision.load_options(JobParams(precision='bf16'), torch.device('cpu'))\n"
        "assert 'bitsandbytes' not in sys.modules, 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=300)
