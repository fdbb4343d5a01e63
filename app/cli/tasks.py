"""Running background tasks from the command line: one task here, with a progress bar in the
terminal, or a loop that serves every queued task (`studio worker --background`)."""

from __future__ import annotations

import sys
import threading
import time

import click

from app.config import get_settings
from app.db import make_session_factory


def run_here(task_id: int) -> dict:
    """Run a queued task in this process (heartbeats included, so another process resumes it
    if this one dies), drawing its progress on stderr. Answers the finished task's fields."""
    from app.db import make_engine
    from app.tasks import make_runner

    engine = make_engine(get_settings().resolved_database_url)
    factory = make_session_factory(engine)
    runner = make_runner(get_settings(), factory)
    worker = threading.Thread(target=runner.run_one, kwargs={"task_id": task_id, "heartbeat": True})
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.5)
            draw(read_task(factory, task_id))
    except KeyboardInterrupt:
        runner.stop()  # the task goes back to the queue at its next report
        worker.join()
        click.echo("\ninterrupted: the task is back in the queue", err=True)
        sys.exit(130)
    click.echo("", err=True)
    try:
        return read_task(factory, task_id)
    finally:
        engine.dispose()


FIELDS = (
    "id", "kind", "state", "phase", "done", "total", "attempts", "worker", "cancel_requested",
    "result", "error", "created_at", "started_at", "finished_at",
)  # fmt: skip


def fields_of(task) -> dict:
    """What the commands show of a task, as plain values."""
    return {name: getattr(task, name) for name in FIELDS}


def read_task(factory, task_id: int) -> dict:
    from app.models import BackgroundTask

    with factory() as session:
        return fields_of(session.get(BackgroundTask, task_id))


def draw(task: dict) -> None:
    """The task's phase and progress bar, redrawn in place on stderr."""
    done, total = task["done"], task["total"]
    if total:
        filled = int(30 * min(done, total) / total)
        bar = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}"
    else:
        bar = f"{done}" if done else ""
    click.echo(f"\r{task['phase']:<28} {bar}", nl=False, err=True)


def serve_forever(threads: int) -> None:
    """Claim and run queued tasks until interrupted; running tasks are handed back."""
    from app.db import make_engine
    from app.tasks import make_runner

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    runner = make_runner(settings, make_session_factory(engine))
    runner.start(threads)
    click.echo(f"Running background tasks with {threads} loop(s); Ctrl-C stops.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        runner.stop()
    finally:
        engine.dispose()
