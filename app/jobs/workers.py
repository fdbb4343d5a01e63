"""The trainer workers as they last reported in, and the jobs their devices can run.

A worker sends its device with every claim (``protocol.ClaimRequest.device``): ``record`` keeps
one row per worker name with what it said and when. The rule for what a job asks of a device
is ``app.core.devices``, and it is applied three times, alike:

- the claim hands a worker only the jobs its device can run (``runnable``), so a 4-bit or bf16
  job waits for a worker that has them instead of failing on the first that asks, and a
  worker that reports no device (an older one) gets only jobs every device runs;
- the launch refuses, with a sentence naming what the workers have (``launch_refusal``), a job
  that asks what no worker seen within ``SEEN_WITHIN`` has. That is 4-bit loading, and bf16
  asked for by name: both are refused, not warned about, because a job that asks for them
  would wait in the queue for a worker that may never come (bf16 emulated on an older GPU is
  slower than fp32, so no worker that lacks it is handed such a job). The automatic choices
  ('auto' precision, no 4-bit) run on every device and are never refused, even before any
  worker has reported in (the demo launches before its worker first polls);
- the worker refuses, with a sentence, a job its device cannot run after all
  (``trainer.device``), for a job that reached it past these checks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.core import protocol
from app.core.devices import NEEDS, WorkerDevice, describe, lacks, needs
from app.i18n import N_
from app.jobs.objective import Refusal
from app.models import Job
from app.models import Worker as WorkerRow
from app.models.base import utcnow

# A worker seen within this long counts at launch; one gone longer is likely gone for good.
SEEN_WITHIN = timedelta(days=1)
# Workers named in a refusal's sentence: the distinct devices, this many at most.
MAX_NAMED = 5

FOUR_BIT_FOR_LORA = N_(
    "4-bit loading is for LoRA: a full fine-tune trains every weight, and 4-bit weights cannot "
    "be trained. Choose LoRA, or turn 4-bit loading off."
)
# Per need: with workers seen (naming what they have), and with none seen at all.
REFUSALS = {
    "four_bit": N_(
        "No worker that has reported in can load 4-bit weights: 4-bit needs a CUDA GPU with "
        "bitsandbytes (pip install '.[qlora]'); the workers seen have: %(seen)s. Turn 4-bit "
        "loading off, or start such a worker and launch again."
    ),
    "bf16": N_(
        "No worker that has reported in computes in bf16: bf16 needs a CUDA GPU of compute "
        "capability 8.0 or newer, or a CPU; the workers seen have: %(seen)s. Choose automatic "
        "precision (fp32 where bf16 is missing), or start such a worker and launch again."
    ),
    "together": N_(
        "No worker that has reported in can both load 4-bit weights and compute in bf16; the "
        "workers seen have: %(seen)s. Choose automatic precision, or start such a worker and "
        "launch again."
    ),
}
NONE_SEEN = {
    "four_bit": N_(
        "No worker has reported in within the last day, so none is known to load 4-bit "
        "weights (a CUDA GPU with bitsandbytes). Start such a worker and launch again, or turn "
        "4-bit loading off."
    ),
    "bf16": N_(
        "No worker has reported in within the last day, so none is known to compute in bf16. "
        "Start a worker and launch again, or choose automatic precision."
    ),
}


def record(*, session: Session, name: str, device: WorkerDevice | None) -> None:
    """Keep what the worker ``name`` reports of its device, and when; a claim without a device
    (an older worker) records nothing."""
    if device is None:
        return
    row = session.scalar(select(WorkerRow).where(WorkerRow.name == name))
    if row is None:
        row = WorkerRow(name=name)
        session.add(row)
    row.device = device.kind
    row.device_name = device.name
    row.devices = device.devices
    row.memory_bytes = device.memory_bytes
    row.free_bytes = device.free_bytes
    row.bf16 = device.bf16
    row.four_bit = device.four_bit
    row.seen_at = utcnow()
    session.flush()


def runnable(device: WorkerDevice | None, params: Any = Job.params) -> list[ColumnElement[bool]]:
    """Conditions on ``Job`` that leave out the jobs ``device`` cannot run (a parameter left
    out of a job's stored parameters has its default, which every device runs); on another
    table's JSON column of job parameters with ``params`` (the pre-flight checks')."""
    conditions = []
    for need, (field, value) in NEEDS.items():
        if device is None or not getattr(device, need):
            conditions.append(func.coalesce(params[field].as_string(), "") != value)
    return conditions


def as_device(row: WorkerRow) -> WorkerDevice:
    return WorkerDevice(
        kind=row.device,
        name=row.device_name,
        devices=row.devices,
        memory_bytes=row.memory_bytes,
        free_bytes=row.free_bytes,
        bf16=row.bf16,
        four_bit=row.four_bit,
    )


def seen(*, session: Session) -> list[WorkerRow]:
    """The workers that reported in within ``SEEN_WITHIN``, the latest first."""
    since = utcnow() - SEEN_WITHIN
    query = select(WorkerRow).where(WorkerRow.seen_at >= since).order_by(WorkerRow.seen_at.desc())
    return list(session.scalars(query))


def launch_refusal(*, session: Session, params: protocol.JobParams) -> Refusal | None:
    """Why a job with ``params`` is refused at launch for the devices of the workers seen, or
    None (see the module's docstring for the rule)."""
    if params.quantization == "4bit" and params.method != "lora":
        return Refusal(FOUR_BIT_FOR_LORA, field="quantization")
    wanted = needs(params)
    if not wanted:
        return None
    devices = [as_device(row) for row in seen(session=session)]
    if any(not lacks(params, device) for device in devices):
        return None
    field = NEEDS[wanted[0]][0]
    if not devices:
        return Refusal(NONE_SEEN[wanted[0]], field=field)
    named = list(dict.fromkeys(describe(device) for device in devices))[:MAX_NAMED]
    missing = [need for need in wanted if not any(getattr(d, need) for d in devices)]
    key = missing[0] if missing else "together"
    field = NEEDS[missing[0]][0] if missing else field
    return Refusal(REFUSALS[key], field=field, seen="; ".join(named))
