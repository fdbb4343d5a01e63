"""`studio projects …`: list projects, manage their members, hand out work."""

from __future__ import annotations

import click
from sqlalchemy import select

from app.cli import assignments, members
from app.cli.common import unit_of_work


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


projects.add_command(members.members)
projects.add_command(assignments.assign)
