"""How much people changed an output the model drafted: the word-level edit ratio between the
job's revision and the item's output now, kept on the item (``draft_edit_ratio``) at every
save, so statistics read it without comparing texts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.edits import edit_ratio
from app.models import Item, ItemRevision


def drafted_output(session: Session, item: Item) -> str | None:
    """The output as the generation job that drafted it wrote it (None: not model-drafted,
    or its revision is gone)."""
    if item.drafted_job_id is None:
        return None
    snapshot = session.scalar(
        select(ItemRevision.snapshot)
        .where(ItemRevision.item_id == item.id, ItemRevision.job_id == item.drafted_job_id)
        .order_by(ItemRevision.version.desc())
        .limit(1)
    )
    return None if snapshot is None else str(snapshot.get("output") or "")


def measure_edits(session: Session, item: Item) -> None:
    """Set the item's edit ratio against its drafted output (call after changing ``output``)."""
    drafted = drafted_output(session, item)
    if drafted is not None:
        item.draft_edit_ratio = round(edit_ratio(drafted, item.output or ""), 4)
