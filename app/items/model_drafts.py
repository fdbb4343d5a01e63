"""A generation job writes an item's missing output: a new revision the job wrote for the
person who launched it, marked model-drafted. The write holds only while the item is still at
the version the job read; otherwise it is turned down with a reason and nothing changes.
Nothing is approved by it: an approved item goes back to review (as any edit would)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import status as machine
from app.core.kinds import ItemContent, content_hash
from app.core.status import ItemStatus
from app.items import indexing
from app.items.service import snapshot, write_revision
from app.locking import locked
from app.models import Item, User
from app.models.base import utcnow

# Why a drafted output was not written (stable codes; the job page labels them).
EDITED = "edited"  # someone saved the item after the job read it
HAS_OUTPUT = "has_output"
CLOSED = "closed"  # rejected meanwhile
GONE = "deleted"
EMPTY = "empty"
INVALID = "invalid"


def write_output(
    *,
    session: Session,
    item_id: int,
    version: int,
    output: str,
    job_id: int,
    launcher: User | None,
) -> str | None:
    """Write ``output`` onto the item if it is still at ``version`` and has none; the reason
    it was not written otherwise."""
    item = locked(session, Item, item_id)
    if item is None:
        return GONE
    if item.version != version:
        return EDITED
    if (item.output or "").strip():
        return HAS_OUTPUT
    status = machine.next_status(item.status, "edit")
    if status is None or item.status == ItemStatus.rejected:
        return CLOSED
    text = output.strip()
    if not text:
        return EMPTY
    before = snapshot(item)
    indexed_before = indexing.item_text(item)
    try:
        content = ItemContent.from_row(item).model_copy(update={"output": text})
        content = ItemContent.model_validate(content.model_dump())
    except ValueError:
        return INVALID
    item.output = text
    item.content_hash = content_hash(content)
    if status == ItemStatus.submitted and item.status != ItemStatus.submitted:
        item.submitted_at, item.lease_by, item.lease_until = utcnow(), None, None
    item.status = status
    item.drafted_job_id, item.draft_edit_ratio = job_id, 0.0
    item.updated_at = utcnow()
    session.flush()
    write_revision(session, item, launcher, job_id=job_id)
    indexing.reindex(session, item, indexed_before)
    audit.record(
        session,
        actor=None,
        actor_label=f"job:{job_id}",
        action="item.drafted",
        entity_type="item",
        entity_id=item.id,
        before=before,
        after=snapshot(item),
    )
    return None
