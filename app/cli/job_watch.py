"""`studio jobs watch`: follow a job from the database, with a progress bar in the terminal."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from app.cli.common import fail
from app.cli.lookup import number
from app.config import get_settings


def _snapshot(session, job_id: int) -> dict[str, Any]:
    """What the watcher draws: status, step of total, latest training loss (for DPO also the
    reward accuracy), ETA."""
    from app.jobs import live, service

    job = service.get_job(session=session, job_id=job_id)
    loss = live.latest(session, job.id, "train/loss")
    accuracy = live.latest(session, job.id, "train/reward_accuracy") if live.is_dpo(job) else None
    step = max(job.step, loss[0] if loss else 0)
    return {
        **live.progress(job, step),
        "status": job.status,
        "loss": loss[1] if loss else None,
        "reward_accuracy": accuracy[1] if accuracy else None,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
    }


def _draw(seen: dict[str, Any]) -> None:
    step, total = seen["step"], seen["total"]
    share = seen["done"]
    if share is not None:
        filled = int(30 * share)
        bar = f"[{'#' * filled}{'.' * (30 - filled)}] "
    else:
        bar = ""
    eta = f"  eta {int(seen['eta'])}s" if seen["eta"] is not None else ""
    status = seen["status"] + (" (cancelling)" if seen["cancel_requested"] else "")
    accuracy = seen.get("reward_accuracy")
    rewards = f"  reward acc {number(accuracy)}" if accuracy is not None else ""
    click.echo(
        f"\r{status:<22} {bar}step {step}/{total or '?'}  loss {number(seen['loss'])}"
        f"{rewards}{eta}   ",
        nl=False,
        err=True,
    )


@click.command("watch")
@click.argument("job_id", metavar="JOB", type=int)
def watch(job_id: int) -> None:
    """Follow a job until it ends, with a progress bar on stderr (polled every second).
    Exits 0 when it succeeded, 1 otherwise; Ctrl-C stops watching, not the job."""
    from app.db import make_engine, make_session_factory
    from app.errors import DomainError
    from app.jobs.service import FINISHED

    engine = make_engine(get_settings().resolved_database_url)
    factory = make_session_factory(engine)
    try:
        while True:
            with factory() as session:
                seen = _snapshot(session, job_id)
            _draw(seen)
            if seen["status"] in FINISHED:
                break
            time.sleep(1)
    except DomainError as error:
        fail(error)
    except KeyboardInterrupt:
        click.echo(f"\nstopped watching; job {job_id} goes on", err=True)
        sys.exit(130)
    finally:
        engine.dispose()
    click.echo("", err=True)
    click.echo(f"job {job_id} {seen['status']}")
    if seen["status"] != "succeeded":
        if seen["error"]:
            click.echo(f"error: {seen['error']}", err=True)
        sys.exit(1)
