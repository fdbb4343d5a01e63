"""Items: write, edit with optimistic locking, submit; every save is a revision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import status as machine
from app.core.kinds import CONTENT_FIELDS, ItemContent, content_hash, later_defaults
from app.core.provenance import Provenance
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.i18n import N_
from app.items import drafting, indexing, repository
from app.items.editors import can_edit, editable_ids
from app.items.lengths import ContentLimits
from app.items.schemas import ItemDraft
from app.items.validation import validate_content
from app.locking import locked
from app.models import Item, ItemRevision, Project, User
from app.models.base import utcnow

META_FIELDS = ("domain", "difficulty", "tags")
LATER_FIELDS = tuple(later_defaults(ItemContent))


def snapshot(item: Item) -> dict[str, Any]:
    """Everything a revision keeps: content, metadata and status."""
    data = {f: getattr(item, f) for f in (*CONTENT_FIELDS, *META_FIELDS)}
    data["status"] = item.status
    return data


def draft_of(item_or_snapshot: Any) -> ItemDraft:
    """The draft that saves an item (or a revision snapshot) again as it is."""
    data = item_or_snapshot
    if not isinstance(data, dict):
        data = {name: getattr(data, name) for name in (*CONTENT_FIELDS, *META_FIELDS)}
    return ItemDraft.model_validate(data)


def _apply(item: Item, content: ItemContent, draft: ItemDraft) -> None:
    data = content.model_dump(mode="json")
    for name in CONTENT_FIELDS:
        setattr(item, name, data[name])
    item.domain = (draft.domain or "").strip() or None
    item.difficulty = draft.difficulty
    item.tags = list(dict.fromkeys(t.strip() for t in draft.tags if t.strip()))
    item.content_hash = content_hash(content)


def write_revision(
    session: Session, item: Item, editor: User | None, *, job_id: int | None = None
) -> None:
    """The revision of the item's current version; ``job_id``: the generation job that wrote
    it (its ``editor`` is the person who launched the job)."""
    session.add(
        ItemRevision(
            item_id=item.id,
            version=item.version,
            snapshot=snapshot(item),
            content_hash=item.content_hash,
            editor_id=editor.id if editor else None,
            job_id=job_id,
            created_at=utcnow(),
        )
    )


def create_item(
    *,
    session: Session,
    project: Project,
    draft: ItemDraft,
    author: User,
    submit: bool = False,
    provenance: Provenance | None = None,
    limits: ContentLimits | None = None,
    job_id: int | None = None,
    drafted: bool = False,
) -> Item:
    """A new item by ``author``; with ``job_id``, a generation job wrote it for the person
    who launched it (``author``), and with ``drafted`` the output is the model's."""
    content = validate_content(draft, for_submit=submit, limits=limits)
    provenance = provenance or Provenance()
    item = Item(
        project_id=project.id,
        author_id=author.id,
        origin=provenance.origin,
        provenance=provenance.details(),
        guideline_version=project.guideline_version,
        status="submitted" if submit else "draft",
        submitted_at=utcnow() if submit else None,
    )
    _apply(item, content, draft)
    if drafted and job_id is not None:
        item.drafted_job_id, item.draft_edit_ratio = job_id, 0.0
    session.add(item)
    session.flush()
    write_revision(session, item, author, job_id=job_id)
    indexing.reindex(session, item)
    audit.record(
        session,
        actor=None if job_id else author,
        actor_label=f"job:{job_id}" if job_id else None,
        action="item.submitted" if submit else "item.created",
        entity_type="item",
        entity_id=item.id,
        after=snapshot(item),
    )
    return item


def get_item(*, session: Session, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(N_("No item with id %(id)s."), id=item_id)
    return item


def update_item(
    *,
    session: Session,
    item_id: int,
    draft: ItemDraft,
    expected_version: int,
    editor: User,
    submit: bool = False,
    limits: ContentLimits | None = None,
) -> Item:
    """Save a new version. A stale version is a conflict and changes nothing."""
    # Locked: a save or a review decision committing meanwhile is waited for and then seen,
    # so the version check below is the last word (not a failed UPDATE at flush).
    item = locked(session, Item, item_id)
    if item is None:
        raise NotFound(N_("No item with id %(id)s."), id=item_id)
    if not can_edit(editor, item):
        raise Forbidden(N_("Only the author or a reviewer can edit this item."))
    if item.version != expected_version:
        raise Conflict(
            N_(
                "Someone saved this item while you were editing. Your text is kept "
                "below; compare and save again."
            ),
            current=item,
        )
    if item.kind != draft.kind:
        raise InvalidInput(
            N_("The kind of an item cannot change."), errors={"kind": N_("Invalid.")}
        )
    status = machine.next_status(item.status, "edit")
    if status is None:
        raise Conflict(machine.WHY_NOT["edit"], status=item.status)
    if submit and status != "submitted":
        status = machine.next_status(status, "submit")
        if status is None:
            raise Conflict(machine.WHY_NOT["submit"], status=item.status)
    # A client that predates a content field (or a form without its widget) leaves it out:
    # the stored value stays rather than falling back to the default.
    kept = {k: getattr(item, k) for k in LATER_FIELDS if k not in draft.model_fields_set}
    if kept:
        draft = draft.model_copy(update=kept)
    content = validate_content(draft, for_submit=submit, limits=limits)
    before = snapshot(item)
    indexed_before = indexing.item_text(item)
    _apply(item, content, draft)
    if item.drafted_job_id is not None:
        drafting.measure_edits(session, item)
    if status == "submitted":
        # A new version starts a new review round: back in the queue, lease released.
        item.submitted_at = utcnow()
        item.lease_by = None
        item.lease_until = None
    item.status = status
    item.updated_at = utcnow()
    session.flush()
    write_revision(session, item, editor)
    indexing.reindex(session, item, indexed_before)
    audit.record(
        session,
        actor=editor,
        action="item.submitted" if submit else "item.updated",
        entity_type="item",
        entity_id=item.id,
        before=before,
        after=snapshot(item),
    )
    return item


def _record_change(
    session: Session, item: Item, actor: User, action: str, before: dict[str, Any]
) -> None:
    """Save a change that is not a content edit: a revision and its audit event."""
    session.flush()
    write_revision(session, item, actor)
    audit.record(
        session,
        actor=actor,
        action=action,
        entity_type="item",
        entity_id=item.id,
        before=before,
        after=snapshot(item),
    )


def revision(*, session: Session, item_id: int, version: int) -> ItemRevision | None:
    """The content as of a version: the latest revision at or before it (status changes
    bump the version without writing a revision)."""
    return session.scalar(
        select(ItemRevision)
        .where(ItemRevision.item_id == item_id, ItemRevision.version <= version)
        .order_by(ItemRevision.version.desc())
        .limit(1)
    )


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for each field that differs: what changed underneath."""
    return [(k, old.get(k), new.get(k)) for k in new if old.get(k) != new.get(k)]


def visible_ids(
    *, session: Session, project_id: int, item_ids: list[int], drafts_of: int | None
) -> list[int]:
    """The chosen ids of this project that the chooser may see (others' private drafts drop
    out, as if they were not there), in the order given."""
    if drafts_of is None or not item_ids:
        return item_ids
    chosen = select(Item.id).where(Item.project_id == project_id, Item.id.in_(item_ids))
    seen = set(session.scalars(repository.visible(chosen, drafts_of)))
    return [i for i in item_ids if i in seen]


def _selected(session: Session, project_id: int, item_ids: list[int]) -> list[Item]:
    """The chosen items of one project: an id from another project is not among them."""
    chosen = select(Item).where(Item.project_id == project_id, Item.id.in_(item_ids))
    return list(session.scalars(chosen.order_by(Item.id)))


def _can_submit(item: Item) -> bool:
    """The status machine allows it and the output is written (the single submit's rule)."""
    return machine.next_status(item.status, "submit") is not None and bool(item.output.strip())


def bulk_submit(*, session: Session, project_id: int, item_ids: list[int], actor: User) -> int:
    """Submit the chosen items that may be submitted as they are; returns how many were."""
    items = _selected(session, project_id, item_ids)
    return submit_items(session=session, items=items, actor=actor)


def submit_items(*, session: Session, items: Sequence[Item], actor: User) -> int:
    """``bulk_submit`` for a batch of items (a page's choice, or a filter's matches)."""
    editable = editable_ids(session, actor, items)
    done = 0
    for item in items:
        if _can_submit(item) and item.id in editable:
            before = snapshot(item)
            item.status = "submitted"
            item.submitted_at = utcnow()
            _record_change(session, item, actor, "item.submitted", before)
            done += 1
    return done


def checked_tag(tag: str) -> str:
    """The tag to add, trimmed; an empty one is refused on the tag field."""
    if not tag.strip():
        raise InvalidInput(N_("Give a tag."), errors={"tag": N_("Required.")})
    return tag.strip()


def bulk_tag(
    *, session: Session, project_id: int, item_ids: list[int], tag: str, actor: User
) -> int:
    items = _selected(session, project_id, item_ids)
    return tag_items(session=session, items=items, tag=tag, actor=actor)


def tag_items(*, session: Session, items: Sequence[Item], tag: str, actor: User) -> int:
    """``bulk_tag`` for a batch of items."""
    tag = checked_tag(tag)
    editable = editable_ids(session, actor, items)
    done = 0
    for item in items:
        if tag not in (item.tags or []) and item.id in editable:
            before = snapshot(item)
            item.tags = [*(item.tags or []), tag]
            _record_change(session, item, actor, "item.tagged", before)
            done += 1
    return done


def bulk_delete_drafts(
    *, session: Session, project_id: int, item_ids: list[int], actor: User
) -> int:
    items = _selected(session, project_id, item_ids)
    return delete_drafts(session=session, items=items, actor=actor)


def delete_drafts(*, session: Session, items: Sequence[Item], actor: User) -> int:
    """``bulk_delete_drafts`` for a batch of items."""
    editable = editable_ids(session, actor, items)
    gone = [item for item in items if item.status == "draft" and item.id in editable]
    for item in gone:
        audit.record(
            session,
            actor=actor,
            action="item.deleted",
            entity_type="item",
            entity_id=item.id,
            before=snapshot(item),
        )
    if gone:
        indexing.forget(session, gone)
    for item in gone:
        session.delete(item)
    session.flush()
    return len(gone)


def clean_items(
    *,
    session: Session,
    project_id: int,
    item_ids: list[int],
    rules: list[str],
    actor: User,
    apply: bool,
    limits: ContentLimits | None = None,
) -> list[tuple[Item, list[tuple[str, str, str]]]]:
    """Preview (or apply) cleaning rules on items; each changed item gets a new revision."""
    from app.core.formats import cleaning

    cleaning.check_rules(rules)
    changes = []
    for item in _selected(session, project_id, item_ids):
        fields = [
            (name, getattr(item, name), cleaning.clean(getattr(item, name), set(rules)))
            for name in ("instruction", "input", "output")
        ]
        changed = [(name, before, after) for name, before, after in fields if before != after]
        if not changed:
            continue
        changes.append((item, changed))
        if apply and can_edit(actor, item) and machine.next_status(item.status, "edit"):
            draft = draft_of(item).model_copy(
                update={name: after for name, _before, after in changed}
            )
            update_item(
                session=session,
                item_id=item.id,
                draft=draft,
                expected_version=item.version,
                editor=actor,
                limits=limits,
            )
    return changes
