"""`studio items …`: an item's revisions, restoring an old one as a new version through the
same service and version check as the history page, and bulk actions and rule-based
augmentation over a filter."""

from __future__ import annotations

import click
from sqlalchemy import select

from app.cli.common import unit_of_work
from app.cli.lookup import (
    actor_of,
    actor_option,
    emit_json,
    excerpt,
    json_option,
    project_of,
    table,
    when,
)
from app.core.kinds import ItemKind
from app.core.provenance import Origin


@click.group()
def items() -> None:
    """Items: history, restore, bulk actions and augmentation."""


@items.command("history")
@click.argument("item_id", metavar="ITEM", type=int)
@json_option
def history(item_id: int, as_json: bool) -> None:
    """ITEM's revisions, newest first: who saved each, when, and which fields changed."""
    from app.items import service as items_service
    from app.models import User
    from app.revisions import service

    with unit_of_work() as session:
        item = items_service.get_item(session=session, item_id=item_id)
        revisions = service.revisions(session=session, item_id=item.id)
        editors = {r.editor_id for r in revisions if r.editor_id}
        emails = dict(
            session.execute(select(User.id, User.email).where(User.id.in_(editors))).all()
        )
        rows = []
        for newer, older in zip(revisions, [*revisions[1:], None], strict=True):
            changed = [
                name
                for name in service.DIFF_FIELDS
                if older is not None
                and service.as_text(newer.snapshot.get(name))
                != service.as_text(older.snapshot.get(name))
            ]
            rows.append(
                {
                    "version": newer.version,
                    "editor": emails.get(newer.editor_id),
                    "created_at": newer.created_at,
                    "content_hash": newer.content_hash,
                    "status": newer.snapshot.get("status"),
                    "changed": changed,
                    "snapshot": newer.snapshot,
                }
            )
        current = {"id": item.id, "version": item.version, "status": item.status}
    if as_json:
        emit_json({"item": current, "revisions": rows})
        return
    click.echo(f"item {item_id}: version {current['version']}, {current['status']}")
    lines = [["VERSION", "SAVED", "BY", "STATUS", "CHANGED"]]
    lines += [
        [
            str(r["version"]),
            when(r["created_at"]),
            r["editor"] or "-",
            r["status"] or "-",
            _changes(r, first=r is rows[-1]),
        ]
        for r in rows
    ]
    table(lines)
    if rows:
        click.echo(f"instruction: {excerpt(rows[0]['snapshot'].get('instruction'), 100)}")


def _changes(row: dict, *, first: bool) -> str:
    if first:
        return "(first version)"
    return ", ".join(row["changed"]) or "(no change)"


@items.command("restore")
@click.argument("item_id", metavar="ITEM", type=int)
@click.argument("revision", type=click.IntRange(1))
@click.option(
    "--expected-version",
    type=click.IntRange(1),
    default=None,
    help="The item's version you last saw (`studio items history`); if someone has saved "
    "since, nothing is restored. Default: the version it has now.",
)
@actor_option
def restore(item_id: int, revision: int, expected_version: int | None, actor_email) -> None:
    """Save REVISION's content as ITEM's new version (history is never rewritten)."""
    from app.config import get_settings
    from app.errors import Conflict
    from app.items import service as items_service
    from app.items.lengths import ContentLimits
    from app.revisions import service

    with unit_of_work() as session:
        editor = actor_of(session, actor_email)
        if expected_version is None:
            expected_version = items_service.get_item(session=session, item_id=item_id).version
        try:
            item = service.restore(
                session=session,
                item_id=item_id,
                version=revision,
                expected_version=expected_version,
                editor=editor,
                limits=ContentLimits.of(get_settings()),
            )
        except Conflict as stale:
            if stale.current is None:
                raise
            raise Conflict(
                "Item %(id)s was saved since version %(seen)s (it is at version %(now)s); "
                "nothing was restored. See `studio items history %(id)s`.",
                id=item_id,
                seen=expected_version,
                now=stale.current.version,
            ) from None
        click.echo(f"revision {revision} of item {item_id} restored as version {item.version}")


@items.command("bulk")
@click.option("--project", "project_ref", required=True, help="Project id or name.")
@click.option(
    "--action", required=True, type=click.Choice(["submit", "tag", "delete"]), help="What to do."
)
@click.option("--tag", default="", help="The tag to add (--action tag).")
@click.option("--search", "q", default="", help="Only items this search finds.")
@click.option("--kind", type=click.Choice(list(ItemKind)), default=None)
@click.option(
    "--status",
    type=click.Choice(["draft", "submitted", "approved", "rejected", "changes_requested"]),
    default=None,
)
@click.option("--domain", default=None)
@click.option("--with-tag", "with_tag", default=None, help="Only items that carry this tag.")
@click.option("--author", "author_email", default=None, metavar="EMAIL")
@click.option("--difficulty", type=click.IntRange(1, 5), default=None)
@click.option("--language", default=None)
@click.option(
    "--origin", type=click.Choice(list(Origin)), default=None, help="How items were made."
)
@click.option("--created-from", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--created-to", type=click.DateTime(["%Y-%m-%d"]), default=None)
@actor_option
@click.option(
    "--queue-only",
    is_flag=True,
    help="Queue the task for the server's background loops instead of running it here.",
)
def bulk(project_ref, action, tag, q, with_tag, author_email, actor_email, queue_only, **rest):
    """Submit, tag or delete (drafts only) every item matching the filters, as the item list's
    "Apply to all matching" does: a background task, run here with a progress bar unless
    --queue-only. Exit 0 only when it ran to the end."""
    import sys

    from app.cli.tasks import run_here
    from app.items import bulk_task
    from app.items.repository import ItemFilter
    from app.users import service as users

    with unit_of_work() as session:
        project = project_of(session, project_ref)
        author = users.find_by_email(session=session, email=author_email) if author_email else None
        f = ItemFilter(
            project_id=project.id,
            q=q,
            tag=with_tag,
            author_id=author.id if author else None,
            kind=rest["kind"],
            status=rest["status"],
            domain=rest["domain"],
            difficulty=rest["difficulty"],
            language=rest["language"],
            origin=rest["origin"],
            created_from=rest["created_from"].date() if rest["created_from"] else None,
            created_to=rest["created_to"].date() if rest["created_to"] else None,
        )
        task = bulk_task.start(
            session=session,
            project=project,
            f=f,
            action=action,
            tag=tag,
            actor=actor_of(session, actor_email),
        )
        task_id, total = task.id, task.total
    if queue_only:
        click.echo(f"queued {action} over {total} items as background task {task_id}")
        return
    outcome = run_here(task_id)
    if outcome["state"] != "done":
        click.echo(f"error: the task is {outcome['state']}: {outcome['error'] or ''}", err=True)
        sys.exit(1)
    result = outcome["result"]
    click.echo(f"{result['changed']} of {result['items']} items changed (task {task_id})")


@items.command("augment")
@click.option("--project", "project_ref", required=True, help="Project id or name.")
@click.option(
    "--operation",
    required=True,
    help="synonym_replacement, random_insertion, random_swap or random_deletion.",
)
@click.option("--rate", type=float, default=0.1, show_default=True, help="Share of words changed.")
@click.option("--copies", type=int, default=1, show_default=True, help="New drafts per item (1-5).")
@click.option("--seed", type=int, default=None, help="The same seed writes the same drafts.")
@click.option("--input", "with_input", is_flag=True, help="Also rewrite each item's input.")
@click.option("--ids", default="", metavar="1,2,3", help="Only these items.")
@click.option("--search", "q", default="", help="Only items this search finds.")
@click.option("--kind", type=click.Choice(["task", "constraint", "example"]), default=None)
@click.option(
    "--status",
    type=click.Choice(["draft", "submitted", "approved", "changes_requested"]),
    default=None,
)
@click.option("--domain", default=None)
@click.option("--with-tag", "tag", default=None, help="Only items that carry this tag.")
@click.option("--language", default=None)
@click.option(
    "--origin", type=click.Choice(list(Origin)), default=None, help="How items were made."
)
@actor_option
@click.option(
    "--queue-only",
    is_flag=True,
    help="Queue the task for the server's background loops instead of running it here.",
)
def augment(project_ref, ids, with_input, actor_email, queue_only, **rest) -> None:
    """Rule-based augmentation (EDA) of the matching tasks, constraints and examples in
    English or Chinese, as the item list's "Augment…" does: new drafts linked to their
    source, written as --as. A background task, run here with a progress bar unless
    --queue-only. Exit 0 only when it ran to the end."""
    import sys

    from app.cli.tasks import run_here
    from app.items import augment_task
    from app.items.augment_recipe import Recipe
    from app.items.repository import ItemFilter

    chosen = tuple(sorted({int(i) for i in ids.replace(" ", "").split(",") if i.isdecimal()}))
    if ids.strip() and not chosen:
        raise click.BadParameter("a comma-separated list of item ids", param_hint="--ids")
    recipe = Recipe(
        operation=rest.pop("operation"),
        rate=rest.pop("rate"),
        copies=rest.pop("copies"),
        seed=rest.pop("seed"),
        fields=("instruction", "input") if with_input else ("instruction",),
    )
    with unit_of_work() as session:
        project = project_of(session, project_ref)
        task = augment_task.start(
            session=session,
            project=project,
            f=ItemFilter(project_id=project.id, item_ids=chosen, **rest),
            recipe=recipe,
            actor=actor_of(session, actor_email),
        )
        task_id, total = task.id, task.total
    if queue_only:
        click.echo(f"queued augmentation of {total} items as background task {task_id}")
        return
    outcome = run_here(task_id)
    if outcome["state"] != "done":
        click.echo(f"error: the task is {outcome['state']}: {outcome['error'] or ''}", err=True)
        sys.exit(1)
    result = outcome["result"]
    click.echo(
        f"{result['written']} drafts written from {result['items']} items "
        f"({result['operation']}, seed {result['seed']}; task {task_id})"
    )
    for reason, count in result["skipped"].items():
        if count:
            unit = "items" if reason == "language" else "copies"
            click.echo(f"skipped {count} {unit}: {SKIPPED[reason]}")


SKIPPED = {
    "language": "neither English nor Chinese",
    "unchanged": "nothing could change",
    "repeated": "the same as an earlier copy",
    "invalid": "not a valid item",
}
