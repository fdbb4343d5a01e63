"""Revision history: word-level diffs (CJK by character) and restoring old content."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.cjk import CJK_CLASS
from app.core.kinds import CONTENT_FIELDS
from app.errors import NotFound
from app.i18n import N_
from app.items import service as items
from app.models import ItemRevision, User

# A token is a CJK character, a run of other word characters, a run of spaces, or one
# other character: English diffs by word and Chinese by character, and spacing is kept.
_TOKEN = re.compile(f"[{CJK_CLASS}]|\\s+|[^\\s{CJK_CLASS}\\W]+|.", re.S)
# Every content field but the kind, which never changes, then the metadata and the status.
DIFF_FIELDS = (
    *(name for name in CONTENT_FIELDS if name != "kind"),
    *items.META_FIELDS,
    "status",
)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


@dataclass
class Segment:
    op: str  # "equal", "delete", "insert"
    text: str


def diff_text(old: str, new: str) -> tuple[list[Segment], list[Segment]]:
    """Side-by-side segments: the left shows deletions, the right insertions."""
    a, b = tokenize(old), tokenize(new)
    left: list[Segment] = []
    right: list[Segment] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            left.append(Segment("equal", "".join(a[i1:i2])))
            right.append(Segment("equal", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(Segment("delete", "".join(a[i1:i2])))
        if j2 > j1:
            right.append(Segment("insert", "".join(b[j1:j2])))
    return left, right


def as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        parts = []
        for entry in value:
            if isinstance(entry, dict) and "input" in entry:
                parts.append(f"{entry.get('input', '')}\n→ {entry.get('output', '')}")
            elif isinstance(entry, dict):
                parts.append(f"{entry.get('id')} {entry.get('params', {})}")
            else:
                parts.append(str(entry))
        return "\n".join(parts)
    return str(value)


def revisions(*, session: Session, item_id: int) -> list[ItemRevision]:
    return list(
        session.scalars(
            select(ItemRevision)
            .where(ItemRevision.item_id == item_id)
            .order_by(ItemRevision.version.desc())
        )
    )


def get_revision(*, session: Session, item_id: int, version: int) -> ItemRevision:
    row = session.scalar(
        select(ItemRevision).where(ItemRevision.item_id == item_id, ItemRevision.version == version)
    )
    if row is None:
        raise NotFound(N_("No revision %(version)s of this item."), version=version)
    return row


def compare(old: ItemRevision, new: ItemRevision) -> list[dict]:
    rows = []
    for name in DIFF_FIELDS:
        before, after = as_text(old.snapshot.get(name)), as_text(new.snapshot.get(name))
        left, right = diff_text(before, after)
        rows.append({"field": name, "changed": before != after, "left": left, "right": right})
    return rows


def restore(*, session: Session, item_id: int, version: int, expected_version: int, editor: User):
    """Save an old revision's content as a new version (history is never rewritten)."""
    old = get_revision(session=session, item_id=item_id, version=version)
    draft = items.draft_of(old.snapshot)
    return items.update_item(
        session=session,
        item_id=item_id,
        draft=draft,
        expected_version=expected_version,
        editor=editor,
    )
