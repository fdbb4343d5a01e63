"""`studio tasks`: a project's background tasks (imports, freezes, bulk actions), one task,
cancel, retry, and a progress bar that follows a task whichever process runs it."""

from __future__ import annotations

import sys
import time

import click

from app.cli.common import unit_of_work
from app.cli.lookup import actor_of, actor_option, emit_json, json_option, project_of
from app.cli.tasks import FIELDS, draw, fields_of, run_here


@click.group()
def tasks() -> None:
    """Background tasks: imports, dataset freezes and bulk actions on items."""


@tasks.command("list")
@click.argument("project_ref", metavar="PROJECT")
@json_option
def list_tasks(project_ref: str, as_json: bool) -> None:
    """The project's 50 latest tasks, newest first."""
    from app.background import queue

    with unit_of_work() as session:
        project = project_of(session, project_ref)
        rows = [fields_of(t) for t in queue.of_project(session, project.id)]
    if as_json:
        emit_json(rows)
        return
    for t in rows:
        progress = f"{t['done']}/{t['total']}" if t["total"] else str(t["done"] or "")
        click.echo(f"{t['id']:>6}  {t['kind']:<10} {t['state']:<10} {t['phase']:<14} {progress}")


@tasks.command("show")
@click.argument("task_id", type=int)
@json_option
def show_task(task_id: int, as_json: bool) -> None:
    """One task: its state, progress, result or error."""
    from app.background import queue

    with unit_of_work() as session:
        task = fields_of(queue.get(session, task_id))
    if as_json:
        emit_json(task)
        return
    for name in FIELDS:
        if task[name] not in (None, {}, ""):
            click.echo(f"{name}: {task[name]}")


@tasks.command("cancel")
@click.argument("task_id", type=int)
@actor_option
def cancel_task(task_id: int, actor_email: str | None) -> None:
    """Cancel a queued task now, or ask a running one to stop at its next batch."""
    from app.background import queue, service
    from app.tasks import KINDS

    with unit_of_work() as session:
        task = queue.get(session, task_id)
        service.cancel(
            session=session, task=task, actor=actor_of(session, actor_email), kinds=KINDS
        )
        click.echo(f"task {task.id}: {'cancelled' if task.state == 'cancelled' else 'stopping'}")


@tasks.command("retry")
@click.argument("task_id", type=int)
@actor_option
@click.option("--here", is_flag=True, help="Run it in this process, with a progress bar.")
def retry_task(task_id: int, actor_email: str | None, here: bool) -> None:
    """Queue a failed or cancelled task again: it resumes after its last committed batch."""
    from app.background import queue, service
    from app.tasks import KINDS

    with unit_of_work() as session:
        task = queue.get(session, task_id)
        service.retry(session=session, task=task, actor=actor_of(session, actor_email), kinds=KINDS)
        resumes = "after its last committed batch" if task.checkpoint else "from the start"
    click.echo(f"task {task_id}: queued again, to resume {resumes}")
    if here:
        outcome = run_here(task_id)
        if outcome["state"] != "done":
            click.echo(f"error: the task is {outcome['state']}: {outcome['error'] or ''}", err=True)
            sys.exit(1)
        click.echo(f"task {task_id} done: {outcome['result']}")


@tasks.command("watch")
@click.argument("task_id", type=int)
def watch_task(task_id: int) -> None:
    """A progress bar until the task ends (exit 0 when done, 1 when failed or cancelled)."""
    from app.background import queue

    while True:
        with unit_of_work() as session:
            task = fields_of(queue.get(session, task_id))
        draw(task)
        if task["state"] in ("done", "failed", "cancelled"):
            break
        time.sleep(1)
    click.echo("", err=True)
    if task["state"] != "done":
        click.echo(f"error: the task is {task['state']}: {task['error'] or ''}".rstrip(), err=True)
        sys.exit(1)
    click.echo(f"task {task['id']} done: {task['result']}")
