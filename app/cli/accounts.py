"""`studio db`, `studio users` and `studio tokens`: migrations, people and API tokens."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.common import ensure_var_dir, unit_of_work
from app.config import get_settings


@click.group()
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


@click.group()
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
    with unit_of_work(write=True) as session:
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
    if generated:
        click.echo(f"password: {password}")


@users.command("set-role")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["annotator", "reviewer", "admin"]))
def users_set_role(email: str, role: str) -> None:
    """Change a person's role."""
    from app.users import service

    with unit_of_work(write=True) as session:
        user = service.find_by_email(session=session, email=email)
        service.set_role(session=session, user_id=user.id, role=role, actor=None)
        click.echo(f"{user.email} is now {role}")


@users.command("deactivate")
@click.option("--email", required=True)
def users_deactivate(email: str) -> None:
    """Deactivate a person; their sessions end at once."""
    from app.users import service

    with unit_of_work(write=True) as session:
        user = service.find_by_email(session=session, email=email)
        service.set_active(session=session, user_id=user.id, active=False, actor=None)
        click.echo(f"{user.email} deactivated")


@users.command("list")
def users_list() -> None:
    """List people."""
    from app.users import service

    with unit_of_work() as session:
        for u in service.list_users(session=session):
            state = "active" if u.is_active else "deactivated"
            click.echo(f"{u.id}\t{u.email}\t{u.role}\t{state}")


@click.group()
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

    with unit_of_work(write=True) as session:
        owner = users_service.find_by_email(session=session, email=email) if email else None
        issued = service.create_token(
            session=session, name=name, scope=scope, owner=owner, actor=None
        )
        raw = issued.raw
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

    with unit_of_work(write=True) as session:
        token = service.revoke_token(session=session, token_id=token_id, actor=None)
        click.echo(f"revoked {token.name}")
