"""`studio projects assign …`: hand a project's items to members for a task, or take them
back (--unassign), through the same service and audit trail as the assign page."""

from __future__ import annotations

from datetime import date

import click

from app.cli.common import unit_of_work
from app.core.kinds import ItemKind

TASKS = ("write", "label", "fix", "review")
STATUSES = ("draft", "submitted", "approved", "rejected", "changes_requested")
KINDS = tuple(ItemKind)


def _due(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--due") from None


@click.command()
@click.argument("project_ref", metavar="PROJECT")
@click.option("--task", required=True, type=click.Choice(TASKS), help="What to ask for.")
@click.option("--to", "emails", multiple=True, help="Assignee's email (repeatable).")
@click.option("--item", "item_ids", multiple=True, type=int, help="Item id (repeatable).")
@click.option("--status", type=click.Choice(STATUSES), help="Every item in this status.")
@click.option("--kind", type=click.Choice(KINDS), help="With --status: only this kind.")
@click.option("--due", default=None, help="Due date, YYYY-MM-DD.")
@click.option("--unassign", is_flag=True, help="Take the people named (all, if none) off.")
@click.option("--as", "actor_email", default=None, help="Acting person (default: first admin).")
def assign(project_ref, task, emails, item_ids, status, kind, due, unassign, actor_email) -> None:
    """Assign a project's items to people for a task (PROJECT is an id or a name)."""
    from app.assignments import forms
    from app.assignments import service as assignments
    from app.cli.data import _project_and_actor
    from app.items.repository import ItemFilter

    if bool(item_ids) == bool(status):
        raise click.UsageError("give either --item IDs or --status (with an optional --kind)")
    if kind and not status:
        raise click.UsageError("--kind goes with --status")
    if not unassign and not emails:
        raise click.UsageError("name at least one assignee with --to EMAIL")
    due_date = _due(due)
    with unit_of_work() as session:
        project, actor = _project_and_actor(session, project_ref, actor_email)
        ids = list(item_ids) or forms.matching_ids(
            session, ItemFilter(project_id=project.id, status=status, kind=kind)
        )
        if not ids:
            click.echo("no items match")
            return
        user_ids = assignments.user_ids_for(session=session, emails=emails)
        if unassign:
            summary = assignments.unassign(
                session=session,
                project_id=project.id,
                item_ids=ids,
                task=task,
                user_ids=user_ids or None,
                actor=actor,
            )
            click.echo(f"unassigned {task} on {summary.changed} of {summary.items} items")
            return
        summary = assignments.assign(
            session=session,
            project_id=project.id,
            item_ids=ids,
            task=task,
            user_ids=user_ids,
            due_date=due_date,
            actor=actor,
        )
        click.echo(
            f"assigned {task} on {summary.changed} of {summary.items} items to {', '.join(emails)}"
        )
