"""The `studio` command: serve, migrate, manage people and tokens, import and export.

Command groups live in their own modules and are attached to ``main`` here."""

from __future__ import annotations

import os
import sys

import click

from app.cli import (
    accounts,
    data,
    datasets,
    items,
    jobs,
    pairs,
    projects,
    reports,
    rounds,
    task_commands,
)
from app.cli.common import ensure_var_dir, unit_of_work
from app.config import get_settings


@click.group()
def main() -> None:
    """Instruction Studio: write, review and fine-tune on instruction data."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn processes")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app."""
    from app import logs, metrics, serving

    ensure_var_dir()
    settings = get_settings()
    settings.resolved_secret_key()  # create it before workers race to
    if workers > 1:
        # Each worker process writes its metrics here and a scrape adds them up; the files of
        # an earlier start's processes go first, before any worker opens its own.
        metrics.clear_folder(settings.resolved_metrics_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.resolved_metrics_dir.resolve())
    serving.run(
        serving.TcpConfig(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            log_config=logs.uvicorn_log_config(settings.log_format),
        )
    )


@main.command()
def setup() -> bool:
    """Migrate the database and create the first admin when there is nobody yet."""
    from app import bootstrap, migrate

    ensure_var_dir()
    migrate.upgrade(get_settings().resolved_database_url)
    with unit_of_work() as session:
        return bootstrap.ensure_admin(session=session, settings=get_settings(), echo=click.echo)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="Load the demo project on first start.",
)
@click.option(
    "--worker/--no-worker",
    "start_worker",
    default=True,
    show_default=True,
    help="Start a trainer worker beside the app.",
)
@click.pass_context
def run(ctx: click.Context, host: str, port: int, demo: bool, start_worker: bool) -> None:
    """Development all-in-one: `setup`, the demo on first start, a worker, then serve."""
    first_start = ctx.invoke(setup)
    if first_start and demo:
        ctx.invoke(demo_load)
    if start_worker:
        _start_local_worker(f"http://{host}:{port}")
    click.echo(f"Instruction Studio is starting on http://{host}:{port}")
    ctx.invoke(serve, host=host, port=port, workers=1)


def _local_worker_token() -> str:
    """A worker token for the worker `studio run` starts, kept under var/ like the secret key."""
    from app.tokens.files import ensure_worker_token_file

    with unit_of_work() as session:
        return ensure_worker_token_file(
            session, get_settings().var_dir / "worker_token", name="local worker"
        )


def _start_local_worker(url: str) -> None:
    import atexit
    import subprocess

    process = subprocess.Popen(
        [sys.executable, "-m", "trainer", "--url", url, "--exit-with-parent"],
        env={**os.environ, "STUDIO_WORKER_TOKEN": _local_worker_token()},
    )
    atexit.register(process.terminate)
    click.echo(f"Started a trainer worker (pid {process.pid}).")


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
@click.option(
    "--token",
    envvar="STUDIO_WORKER_TOKEN",
    help="A worker-scope API token (or STUDIO_WORKER_TOKEN).",
)
@click.option(
    "--background",
    is_flag=True,
    help="Run the app's background tasks (imports, freezes) instead of training jobs.",
)
@click.option("--threads", default=1, show_default=True, type=int, help="With --background.")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def worker(
    url: str, token: str | None, background: bool, threads: int, extra: tuple[str, ...]
) -> None:
    """Run a trainer worker (`python -m trainer`) as a separate process, or with
    --background a loop that runs queued background tasks against the database."""
    import subprocess

    if background:
        from app.cli.tasks import serve_forever

        serve_forever(max(1, threads))
        return
    if not token:
        raise click.UsageError("A trainer worker needs --token or STUDIO_WORKER_TOKEN.")

    env = {**os.environ, "STUDIO_WORKER_TOKEN": token}
    result = subprocess.run([sys.executable, "-m", "trainer", "--url", url, *extra], env=env)
    sys.exit(result.returncode)


@main.group()
def demo() -> None:
    """Demo content written for this project."""


@demo.command("load")
def demo_load() -> None:
    """Load the bilingual demo project, its users and items (once)."""
    from sqlalchemy import select

    from app.demo.loader import load_demo
    from app.models import User

    with unit_of_work() as session:
        admin = session.scalar(select(User).where(User.role == "admin").order_by(User.id))
        summary = load_demo(session=session, admin=admin)
        for line in summary.lines():
            click.echo(line)


for command in (
    data.import_file,
    data.export_version,
    accounts.db,
    accounts.users,
    accounts.tokens,
    projects.projects,
    datasets.datasets,
    jobs.jobs,
    items.items,
    reports.audit,
    reports.stats,
    reports.agreement,
    reports.duplicates,
    reports.balance,
    task_commands.tasks,
    rounds.rounds,
    pairs.pairs,
):
    main.add_command(command)
