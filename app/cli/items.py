"""`studio items …`: an item's revisions, and restoring an old one as a new version through
the same service and version check as the history page."""

from __future__ import annotations

import click
from sqlalchemy import select

from app.cli.common import unit_of_work
from app.cli.lookup import actor_of, actor_option, emit_json, excerpt, json_option, table, when


@click.group()
def items() -> None:
    """Items: history and restore."""


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
