"""The `studio` command: serve, migrate, manage people and tokens."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import make_engine, make_session_factory
from app.errors import DomainError


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction for a CLI command, committed when the block succeeds."""
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    session = make_session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        engine.dispose()


def fail(error: DomainError) -> None:
    click.echo(f"error: {error.text}", err=True)
    sys.exit(1)


def ensure_var_dir() -> None:
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings.resolved_artifacts_dir.mkdir(parents=True, exist_ok=True)


@click.group()
def main() -> None:
    """Instruction Studio: write, review and fine-tune on instruction data."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn processes")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app."""
    import uvicorn

    ensure_var_dir()
    get_settings().resolved_secret_key()  # create it before workers race to
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
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
    required=True,
    help="A worker-scope API token (or STUDIO_WORKER_TOKEN).",
)
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def worker(url: str, token: str, extra: tuple[str, ...]) -> None:
    """Run a trainer worker (`python -m trainer`) as a separate process."""
    import subprocess

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


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--project", "project_ref", required=True, help="Project id or name.")
@click.option("--schema", default=None, help="Override the detected format.")
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
@click.option("--as", "email", default=None, help="Importing user (default: first admin).")
def import_file(path, project_ref, schema, mode, status, rules, email) -> None:
    """Import a JSONL, JSON, CSV or Parquet file into a project."""
    from pathlib import Path

    from app.datasets import imports

    try:
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
            options = imports.ImportOptions(
                schema=schema, mode=mode, status=status, cleaning=list(rules)
            )

            def progress(phase: str, done: int, total: int) -> None:
                click.echo(
                    f"\r{phase}: {done}" + (f"/{total}" if total else ""), nl=False, err=True
                )

            job = imports.run(
                session=session, job_id=job.id, options=options, actor=actor, progress=progress
            )
            click.echo("", err=True)
            for problem in job.errors[:50]:
                click.echo(f"line {problem['number']}: {'; '.join(problem['reasons'])}")
            if job.state != "done":
                click.echo(f"error: {job.message}", err=True)
                sys.exit(1)
            imports.index_near_duplicates(session=session, job_id=job.id)
            click.echo(
                f"imported {job.created_items} items, skipped {job.skipped_duplicates} "
                f"already present, {job.error_count} rows with problems"
            )
    except DomainError as error:
        fail(error)


@main.command("export")
@click.argument("version_id", type=int)
@click.option(
    "--format",
    "fmt",
    default="alpaca_jsonl",
    show_default=True,
    type=click.Choice(["alpaca_json", "alpaca_jsonl", "openai_jsonl", "sharegpt_json", "parquet"]),
)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False))
def export_version(version_id: int, fmt: str, out: str) -> None:
    """Export a dataset version into a folder: README.md and one file per split."""
    from pathlib import Path

    from app.datasets import export

    try:
        with unit_of_work() as session:
            for path in export.write_folder(session, version_id, fmt, Path(out)):
                click.echo(str(path))
    except DomainError as error:
        fail(error)


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


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from app import migrate

    ensure_var_dir()
    migrate.upgrade(get_settings().resolved_database_url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' removes everything)."""
    from app import migrate

    migrate.downgrade(get_settings().resolved_database_url, revision)
    click.echo(f"database at {revision}")


@main.group()
def users() -> None:
    """Manage people."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["annotator", "reviewer", "admin"]))
@click.option("--password", default=None, help="Generated and printed when omitted.")
@click.option("--name", "display_name", default="")
@click.option("--language", default="en", type=click.Choice(["en", "zh"]))
def users_create(email, role, password, display_name, language) -> None:
    """Create a person."""
    from app.security import generate_password
    from app.users import service

    generated = password is None
    password = password or generate_password()
    try:
        with unit_of_work() as session:
            user = service.create_user(
                session=session,
                email=email,
                role=role,
                password=password,
                display_name=display_name,
                language=language,
                actor=None,
            )
            click.echo(f"created {user.role} {user.email} (id {user.id})")
    except DomainError as error:
        fail(error)
    if generated:
        click.echo(f"password: {password}")


@users.command("set-role")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["annotator", "reviewer", "admin"]))
def users_set_role(email: str, role: str) -> None:
    """Change a person's role."""
    from app.users import service

    try:
        with unit_of_work() as session:
            user = service.find_by_email(session=session, email=email)
            service.set_role(session=session, user_id=user.id, role=role, actor=None)
            click.echo(f"{user.email} is now {role}")
    except DomainError as error:
        fail(error)


@users.command("deactivate")
@click.option("--email", required=True)
def users_deactivate(email: str) -> None:
    """Deactivate a person; their sessions end at once."""
    from app.users import service

    try:
        with unit_of_work() as session:
            user = service.find_by_email(session=session, email=email)
            service.set_active(session=session, user_id=user.id, active=False, actor=None)
            click.echo(f"{user.email} deactivated")
    except DomainError as error:
        fail(error)


@users.command("list")
def users_list() -> None:
    """List people."""
    from app.users import service

    with unit_of_work() as session:
        for u in service.list_users(session=session):
            state = "active" if u.is_active else "deactivated"
            click.echo(f"{u.id}\t{u.email}\t{u.role}\t{state}")


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.option("--name", required=True)
@click.option("--scope", default="worker", type=click.Choice(["worker", "user"]))
@click.option("--email", default=None, help="Owner of a user-scope token.")
def tokens_create(name: str, scope: str, email: str | None) -> None:
    """Create a token and print it once."""
    from app.tokens import service
    from app.users import service as users_service

    try:
        with unit_of_work() as session:
            owner = users_service.find_by_email(session=session, email=email) if email else None
            issued = service.create_token(
                session=session, name=name, scope=scope, owner=owner, actor=None
            )
            raw = issued.raw
    except DomainError as error:
        fail(error)
    click.echo(raw)


@tokens.command("file")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", default="worker", show_default=True)
def tokens_file(path: Path, name: str) -> None:
    """Keep a live worker token in PATH (created, or replaced when revoked); never printed."""
    from app.tokens.files import ensure_worker_token_file

    with unit_of_work() as session:
        ensure_worker_token_file(session, path, name=name)
    click.echo(f"worker token in {path}")


@tokens.command("list")
def tokens_list() -> None:
    """List tokens (never their values)."""
    from app.tokens import service

    with unit_of_work() as session:
        for t in service.list_tokens(session=session):
            state = "revoked" if t.revoked_at else "active"
            click.echo(f"{t.id}\t{t.name}\t{t.scope}\t{t.prefix}…\t{state}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by id."""
    from app.tokens import service

    try:
        with unit_of_work() as session:
            token = service.revoke_token(session=session, token_id=token_id, actor=None)
            click.echo(f"revoked {token.name}")
    except DomainError as error:
        fail(error)


if __name__ == "__main__":  # pragma: no cover
    main()
