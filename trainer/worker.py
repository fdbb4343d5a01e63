"""The worker loop: run a pre-flight check if one is queued (``trainer.preflight``), claim a
job, run it (``trainer.job.run_job``), report a failure, repeat.

One job at a time. Heartbeats go out at most every few seconds and carry the latest
checkpoint, so a worker that dies is replaced by another that resumes from there. Each claim
carries the worker's device (``trainer.device``), so the app hands it only jobs it can run and
knows the memory of the workers that have reported in.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback

import httpx

from app.core import protocol
from app.core.devices import WorkerDevice
from trainer.client import AppClient

log = logging.getLogger("trainer")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _ranks() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 1, 0  # not under torchrun: no need to import torch to poll
    from trainer.ranks import world

    return world()


def _probe(ranks: int) -> WorkerDevice | None:
    """This worker's device, or None where it cannot tell (no torch: it reports nothing)."""
    try:
        from trainer.device import probe

        return probe(ranks=ranks)
    except (ImportError, RuntimeError) as error:
        log.warning("could not tell this worker's device (%s); claiming without it", error)
        return None


def _fresh(device: WorkerDevice | None) -> WorkerDevice | None:
    """``device`` with its free memory as it is now (as it was, if that cannot be read)."""
    if device is None:
        return None
    from trainer.device import refresh

    try:
        return refresh(device)
    except (OSError, RuntimeError):
        return device


def _failure(what: str, error: Exception) -> str:
    """What the error of ``what`` (a job, a pre-flight check) says, logged here too: a
    refusal's own sentence, else the exception's last line (the traceback goes to the
    worker's log)."""
    from trainer.device import CannotRun

    if isinstance(error, CannotRun):
        log.warning("%s refused: %s", what, error)
        return str(error)
    log.error("%s failed", what, exc_info=error)
    return "".join(traceback.format_exception_only(type(error), error)).strip()


def _take_preflight(client: AppClient, name: str, device: WorkerDevice | None) -> None:
    """Run one pre-flight check of a launch's settings, if one is queued, before claiming a
    job: someone is watching the launch form for it. A check that fails is answered with the
    sentence a job would fail with, and the worker goes on to its jobs."""
    try:
        spec = client.claim_preflight(name, device)
    except RuntimeError:
        # The app refused or failed the claim (a 5xx while it restarts): jobs come first.
        log.exception("could not ask for a pre-flight check; going on to jobs")
        return
    if spec is None:
        return
    log.info("claimed pre-flight check %s", spec.preflight_id)
    what = f"pre-flight check {spec.preflight_id}"
    try:
        from trainer.preflight import run_preflight  # loads torch: only once a check is taken

        report = run_preflight(client, spec, device)
    except Exception as error:  # noqa: BLE001 - any failure is the check's answer
        try:
            client.fail_preflight(spec.preflight_id, _failure(what, error)[:20_000])
        except RuntimeError:
            log.exception("could not report the failure of %s", what)
        return
    try:
        client.report_preflight(spec.preflight_id, report)
    except RuntimeError:
        log.exception("could not report %s", what)


def _share(spec: protocol.JobSpec | None) -> protocol.JobSpec | None:
    import torch.distributed as dist

    box = [spec.model_dump(mode="json") if spec else None]
    dist.broadcast_object_list(box, src=0)
    return protocol.JobSpec.model_validate(box[0]) if box[0] else None


def serve(
    url: str,
    token: str,
    *,
    once: bool = False,
    poll: float = 3.0,
    exit_with_parent: bool = False,
    client: AppClient | None = None,
) -> None:
    """Claim and run jobs; ``client`` talks to the app instead of one made for ``url`` (an
    in-process app's, in tests)."""
    client = client or AppClient(url, token)
    ranks, rank = _ranks()
    name = worker_name() + (f"x{ranks}" if ranks > 1 else "")
    parent = os.getppid()
    # Probed once (torch loads for it); transformers loads with the first job.
    device = _probe(ranks) if rank == 0 else None
    log.info("worker %s polling %s", name, url)
    while True:
        if exit_with_parent and os.getppid() != parent:
            # Started by `studio run`, which is gone: a worker of nothing should not linger.
            log.info("the process that started this worker has exited; stopping")
            return
        spec = None
        if rank == 0:
            try:
                device = _fresh(device)
                if ranks == 1:  # under torchrun the ranks run jobs together, not checks
                    _take_preflight(client, name, device)
                # Generation runs on one process: under torchrun the ranks only train.
                kinds = ("finetune",) if ranks > 1 else ("finetune", "generate")
                spec = client.claim(name, device, kinds)
            except httpx.TransportError as error:
                # The app may still be starting (make run starts both at once) or restarting.
                log.warning("cannot reach %s (%s); retrying in %ss", url, error, poll)
                time.sleep(poll)
                continue
        if ranks > 1:
            spec = _share(spec)  # under torchrun, rank 0 claims for everyone
        if spec is None:
            if once:
                return
            time.sleep(poll)
            continue
        log.info("claimed job %s (attempt %s)", spec.job_id, spec.attempt)
        # transformers loads with the first job, not at start-up: an idle worker starts in a
        # moment and notices at once when `studio run`, its parent, has gone.
        from trainer.job import run_job

        try:
            if spec.kind == "generate":
                from trainer.generate import run_generation

                run_generation(client, spec)
            else:
                run_job(client, spec)
        except Exception as error:  # noqa: BLE001 - report any failure on the job
            detail = _failure(f"job {spec.job_id}", error)
            if rank != 0:
                raise  # torchrun stops the other ranks; rank 0 reports what it saw
            try:
                client.fail(
                    spec.job_id, protocol.Failure(attempt=spec.attempt, error=detail[:20_000])
                )
            except RuntimeError:
                log.exception("could not report the failure")
            if ranks > 1:
                # The other ranks may be waiting in a collective: end the group; torchrun
                # stops them, and the supervisor (compose, systemd) starts a fresh one.
                raise SystemExit(1) from error
        if once:
            return
