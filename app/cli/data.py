"""`studio import` and `studio export`: files in and out of projects and dataset versions."""

from __future__ import annotations

import sys

import click

from app.cli.common import unit_of_work
from app.config import get_settings

# The formats an import reads and an export writes; app.core.formats says what each holds.
IMPORT_FORMATS = (
    *("alpaca", "self_instruct", "dolly", "sharegpt", "openai_chat", "ifeval"),
    *("trl_preference", "hh_rlhf", "studio"),
)
EXPORT_FORMATS = (
    *("alpaca_json", "alpaca_jsonl", "openai_jsonl", "sharegpt_json", "parquet"),
    *("trl_chat_jsonl", "trl_chat_parquet", "trl_text_jsonl", "trl_text_parquet", "hh_jsonl"),
)
_LEFT_OUT = {
    "pairs": "preference pairs (this format is for supervised fine-tuning)",
    "sft": "supervised items (this format holds preference pairs only)",
    "conversational_pairs": "preference pairs with a system prompt or earlier turns "
    "(plain text has no place for them)",
}


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--project", "project_ref", required=True, help="Project id or name.")
@click.option(
    "--format",
    "--schema",
    "schema",
    default=None,
    type=click.Choice(IMPORT_FORMATS),
    help="Override the detected format (trl_preference and hh_rlhf hold preference pairs).",
)
@click.option(
    "--mode",
    default="all_or_nothing",
    type=click.Choice(["all_or_nothing", "valid_rows"]),
    show_default=True,
)
@click.option(
    "--status", default="draft", type=click.Choice(["draft", "submitted"]), show_default=True
)
@click.option("--clean", "rules", multiple=True, help="Cleaning rule (repeatable).")
@click.option(
    "--one-exchange",
    default="conversation",
    type=click.Choice(["conversation", "task"]),
    show_default=True,
    help="What a chat row of one user turn and its reply becomes; longer chats are always "
    "conversations.",
)
@click.option(
    "--import-task-matches",
    is_flag=True,
    help="Also import conversations whose first exchange is a task imported earlier "
    "(skipped otherwise).",
)
@click.option("--as", "email", default=None, help="Importing user (default: first admin).")
@click.option(
    "--queue-only",
    is_flag=True,
    help="Queue the import for the server's background tasks instead of running it here.",
)
def import_file(
    path,
    project_ref,
    schema,
    mode,
    status,
    rules,
    one_exchange,
    import_task_matches,
    email,
    queue_only,
) -> None:
    """Import a JSONL, JSON, CSV or Parquet file into a project (as a background task, run
    here with a progress bar unless --queue-only)."""
    from pathlib import Path

    from app.cli.tasks import run_here
    from app.imports import service as imports
    from app.imports import task
    from app.imports.reader import ImportOptions

    with unit_of_work() as session:
        project, actor = _project_and_actor(session, project_ref, email)
        with Path(path).open("rb") as f:
            job = imports.store_upload(
                session=session,
                project=project,
                filename=Path(path).name,
                stream=f,
                folder=get_settings().resolved_artifacts_dir / "imports",
                actor=actor,
            )
        click.echo(f"{job.container} file, detected format: {job.schema}")
        options = ImportOptions(
            schema=schema,
            mode=mode,
            status=status,
            cleaning=list(rules),
            one_exchange=one_exchange,
            task_matches="import" if import_task_matches else "skip",
        )
        queued = task.start(session=session, job=job, options=options, actor=actor)
        import_id, task_id = job.id, queued.id
    if queue_only:
        click.echo(f"queued import {import_id} as background task {task_id}")
        return
    outcome = run_here(task_id)
    with unit_of_work() as session:
        job = imports.job_of(session=session, job_id=import_id)
        for problem in job.errors[:50]:
            click.echo(f"line {problem['number']}: {'; '.join(problem['reasons'])}")
        if job.state != "done":
            click.echo(f"error: {job.message or outcome['error']}", err=True)
            sys.exit(1)
        click.echo(
            f"imported {job.created_items} items, skipped {job.skipped_duplicates} "
            f"already present, {job.error_count} rows with problems"
        )


@click.command("export")
@click.argument("version_id", type=int)
@click.option(
    "--format",
    "fmt",
    default="alpaca_jsonl",
    show_default=True,
    type=click.Choice(EXPORT_FORMATS),
    help="The supervised formats leave preference pairs out; the preference formats (trl_*, "
    "hh_jsonl) hold the pairs alone.",
)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False))
def export_version(version_id: int, fmt: str, out: str) -> None:
    """Export a dataset version into a folder: README.md and one file per split; says what the
    format left out."""
    from collections import Counter
    from pathlib import Path

    from app.datasets import export

    left_out: Counter[str] = Counter()
    with unit_of_work() as session:
        for path in export.write_folder(session, version_id, fmt, Path(out), left_out):
            click.echo(str(path))
    for reason, count in left_out.items():
        if count:
            click.echo(f"left out {count} {_LEFT_OUT[reason]}")


def _project_and_actor(session, project_ref: str, email: str | None):
    from sqlalchemy import select

    from app.errors import NotFound
    from app.models import Project, User
    from app.users import service as users_service

    query = select(Project).where(
        Project.id == int(project_ref) if project_ref.isdigit() else Project.name == project_ref
    )
    project = session.scalar(query)
    if project is None:
        raise NotFound("No project %(ref)s.", ref=project_ref)
    if email:
        actor = users_service.find_by_email(session=session, email=email)
    else:
        actor = session.scalar(select(User).where(User.role == "admin").order_by(User.id))
        if actor is None:
            raise NotFound("No admin to import as; pass --as EMAIL.")
    return project, actor
