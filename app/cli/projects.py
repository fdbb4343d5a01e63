"""`studio projects …`: list and create projects, manage their members, hand out work."""

from __future__ import annotations

import click
from sqlalchemy import select

from app.cli import assignments, members
from app.cli.common import unit_of_work
from app.cli.lookup import actor_of, actor_option


@click.group()
def projects() -> None:
    """Projects, their members and assignments."""


@projects.command("list")
def list_projects() -> None:
    """Every project with its id."""
    from app.models import Project

    with unit_of_work() as session:
        for project in session.scalars(select(Project).order_by(Project.name)):
            click.echo(f"{project.id}\t{project.name}")


@projects.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the project is for.")
@actor_option
def create_project(name: str, description: str, actor_email: str | None) -> None:
    """A new project called NAME, with the defaults of the new-project page."""
    from app.projects import service
    from app.projects.service import ProjectInput

    with unit_of_work() as session:
        project = service.create_project(
            session=session,
            data=ProjectInput(name=name, description=description),
            actor=actor_of(session, actor_email),
        )
        click.echo(f"created project {project.id} {project.name}")


projects.add_command(members.members)
projects.add_command(assignments.assign)
