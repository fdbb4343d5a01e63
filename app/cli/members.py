"""`studio projects members …`: list, add, change and remove a project's members.

PROJECT is a project's id or name. Changes are audited as the first admin, or as the person
named by ``--as EMAIL``.
"""

from __future__ import annotations

import click

from app.cli.common import unit_of_work

ROLES = click.Choice(["annotator", "reviewer", "manager"])
QUOTA = click.IntRange(1, 1_000_000)
actor_option = click.option(
    "--as", "actor_email", default=None, metavar="EMAIL", help="Who acts (default: first admin)."
)


def _project_and_actor(session, project_ref: str, email: str | None):
    from sqlalchemy import select

    from app.errors import NotFound
    from app.i18n import N_
    from app.models import Project, User
    from app.users import service as users

    by = (
        Project.id == int(project_ref)
        if project_ref.isdecimal() and len(project_ref) < 10
        else Project.name == project_ref
    )
    project = session.scalar(select(Project).where(by))
    if project is None:
        raise NotFound(N_("No project %(ref)s."), ref=project_ref)
    if email:
        return project, users.find_by_email(session=session, email=email)
    actor = session.scalar(select(User).where(User.role == "admin").order_by(User.id))
    if actor is None:
        raise NotFound(N_("No admin to act as; pass --as EMAIL."))
    return project, actor


def _person(session, email: str):
    from app.users import service as users

    return users.find_by_email(session=session, email=email)


@click.group()
def members() -> None:
    """A project's members and their roles."""


@members.command("list")
@click.argument("project_ref", metavar="PROJECT")
def list_members(project_ref: str) -> None:
    """Members of PROJECT: email, role, quota and contributions (submitted + labeled)."""
    from app.members import service

    with unit_of_work() as session:
        project, _ = _project_and_actor(session, project_ref, None)
        for row in service.list_members(session=session, project_id=project.id):
            quota = row.member.quota if row.member.quota is not None else "-"
            click.echo(
                f"{row.user.email}\t{row.member.role}\t{row.done}/{quota}\t"
                f"submitted {row.submitted}, labeled {row.labeled}"
            )


@members.command("add")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("email")
@click.option("--role", type=ROLES, default=None, help="Default: matching their global role.")
@click.option("--quota", type=QUOTA, default=None, help="Contributions asked for.")
@actor_option
def add_member(project_ref, email, role, quota, actor_email) -> None:
    """Add the person with EMAIL to PROJECT."""
    from app.members import service
    from app.models import ProjectRole

    with unit_of_work() as session:
        project, actor = _project_and_actor(session, project_ref, actor_email)
        person = _person(session, email)
        role = role or ProjectRole.for_global_role(person.role).value
        service.add_member(
            session=session, project=project, user=person, role=role, actor=actor, quota=quota
        )
        click.echo(f"added {person.email} to {project.name} as {role}")


@members.command("set")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("email")
@click.option("--role", type=ROLES, default=None)
@click.option("--quota", type=QUOTA, default=None, help="Contributions asked for.")
@click.option("--no-quota", is_flag=True, help="Remove the quota.")
@actor_option
def set_member(project_ref, email, role, quota, no_quota, actor_email) -> None:
    """Change the role or quota of EMAIL in PROJECT."""
    from app.members import service

    if quota is not None and no_quota:
        raise click.UsageError("--quota and --no-quota exclude each other.")
    changes: dict[str, object] = {}
    if role is not None:
        changes["role"] = role
    if quota is not None or no_quota:
        changes["quota"] = quota
    if not changes:
        raise click.UsageError("Nothing to change: give --role, --quota or --no-quota.")
    with unit_of_work() as session:
        project, actor = _project_and_actor(session, project_ref, actor_email)
        person = _person(session, email)
        member = service.update_member(
            session=session,
            project_id=project.id,
            user_id=person.id,
            changes=changes,
            expected_version=None,
            actor=actor,
        )
        quota_text = member.quota if member.quota is not None else "none"
        click.echo(f"{person.email} in {project.name}: {member.role}, quota {quota_text}")


@members.command("remove")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("email")
@actor_option
def remove_member(project_ref, email, actor_email) -> None:
    """Take the person with EMAIL out of PROJECT (their open assignments go)."""
    from app.members import service

    with unit_of_work() as session:
        project, actor = _project_and_actor(session, project_ref, actor_email)
        person = _person(session, email)
        service.remove_member(
            session=session, project_id=project.id, user_id=person.id, actor=actor
        )
        click.echo(f"removed {person.email} from {project.name}")
