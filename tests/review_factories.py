"""Factories for review tests: a project and items in a given state."""

from __future__ import annotations

from sqlalchemy import update

from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import Item
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import join


def make_project(session, admin, *, approvals=1, name=None, members=()):
    """A project whose ``members`` join in the project roles their global roles match."""
    project = projects.create_project(
        session=session,
        actor=admin,
        data=ProjectInput(
            name=name or f"Review project {approvals} {id(session)}", approvals_needed=approvals
        ),
    )
    join(session, project, *members)
    return project


def make_item(
    session, project, author, *, text="Summarise the paragraph in one line.", submit=True
):
    return items.create_item(
        session=session,
        project=project,
        author=author,
        submit=submit,
        draft=ItemDraft(
            kind="task", instruction=text, input="Cats sleep a lot.", output="Cats sleep."
        ),
    )


def force_status(session, item, status: str) -> Item:
    """Put an item in a status directly (test setup only)."""
    session.execute(
        update(Item)
        .where(Item.id == item.id)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    session.expire(item)
    session.refresh(item)
    return item


# One task to review, written once for every review test.
DRAFT = ItemDraft(
    kind="task",
    instruction="Summarise the paragraph in two lines.",
    input="Cats sleep a lot.",
    output="Cats sleep. A lot.",
)
