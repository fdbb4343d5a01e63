"""Revision history: word-level diffs (CJK by character) and restoring old content."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.cjk import CJK_CLASS
from app.core.kinds import CONTENT_FIELDS
from app.errors import NotFound
from app.i18n import N_
from app.items import service as items
from app.items.lengths import ContentLimits
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


# The most token (or line) pairs one field's diff may weigh, about half a second. difflib's time
# grows with the product of the two lengths (every token against each equal one): two unrelated
# outputs of 100,000 characters took minutes. Within it, diffs are difflib's own, word by word.
WORK = 2_000_000


def diff_text(old: str, new: str) -> tuple[list[Segment], list[Segment]]:
    """Side-by-side segments: the left shows deletions, the right insertions.

    Above ``WORK`` token pairs the comparison narrows: the common head and tail are equal, the
    rest is compared line by line, and each changed block word by word while the budget lasts;
    what is still too large (two long texts that differ near both ends, over a thousand lines
    apart) shows as deleted and inserted whole.
    """
    a, b = tokenize(old), tokenize(new)
    sides = _Sides(budget=WORK)
    if len(a) * len(b) <= WORK:
        sides.compare(a, b)
    else:
        sides.narrowed(a, b)
    return sides.left, sides.right


@dataclass
class _Sides:
    budget: int
    left: list[Segment] = field(default_factory=list)
    right: list[Segment] = field(default_factory=list)

    def equal(self, a: list[str], b: list[str]) -> None:
        if a:
            self.left.append(Segment("equal", "".join(a)))
            self.right.append(Segment("equal", "".join(b)))

    def changed(self, a: list[str], b: list[str]) -> None:
        if a:
            self.left.append(Segment("delete", "".join(a)))
        if b:
            self.right.append(Segment("insert", "".join(b)))

    def compare(self, a: list[str], b: list[str]) -> None:
        self.budget -= len(a) * len(b)
        matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                self.equal(a[i1:i2], b[j1:j2])
            else:
                self.changed(a[i1:i2], b[j1:j2])

    def narrowed(self, a: list[str], b: list[str]) -> None:
        head = _common_head(a, b)
        tail = _common_head(a[head:][::-1], b[head:][::-1])
        self.equal(a[:head], b[:head])
        a, b, after = a[head : len(a) - tail], b[head : len(b) - tail], a[len(a) - tail :]
        lines_a, lines_b = _lines(a), _lines(b)
        if len(a) * len(b) <= self.budget:
            self.compare(a, b)
        elif len(lines_a) * len(lines_b) <= self.budget:
            self.budget -= len(lines_a) * len(lines_b)
            matcher = difflib.SequenceMatcher(a=lines_a, b=lines_b, autojunk=False)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes():
                block_a = [token for line in lines_a[i1:i2] for token in line]
                block_b = [token for line in lines_b[j1:j2] for token in line]
                if tag == "equal":
                    self.equal(block_a, block_b)
                elif len(block_a) * len(block_b) <= self.budget:
                    self.compare(block_a, block_b)
                else:
                    self.changed(block_a, block_b)
        else:
            self.changed(a, b)
        self.equal(after, after)


def _common_head(a: list[str], b: list[str]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def _lines(tokens: list[str]) -> list[tuple[str, ...]]:
    """The tokens grouped into lines; a line ends with the token that holds its newline."""
    lines, start = [], 0
    for index, token in enumerate(tokens):
        if "\n" in token:
            lines.append(tuple(tokens[start : index + 1]))
            start = index + 1
    if start < len(tokens):
        lines.append(tuple(tokens[start:]))
    return lines


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


# A conversation's instruction and output are its first and last turns: its turns show them. A
# preference pair whose prompt is turns has its first user turn as instruction; its output is
# its chosen response, which no turn holds.
TURN_COPIES = ("instruction", "output")
PAIR_TURN_COPIES = ("instruction",)
# What a row is called where its field name alone would not say: a pair's two responses.
PAIR_LABELS = {"output": N_("Chosen response"), "rejected": N_("Rejected response")}


def compare(old: ItemRevision, new: ItemRevision) -> list[dict]:
    """One row per field, ``{"field", "label", "changed", "left", "right"}`` (``label``: the
    message id of a pair's response rows, else None); a conversation's turns as one row each,
    with ``"turn": {"n", "role", "change"}`` (see :func:`turn_rows`)."""
    kinds = {revision.snapshot.get("kind") for revision in (old, new)}
    pair = "preference" in kinds
    if "conversation" in kinds:
        copies = TURN_COPIES
    elif pair and any(revision.snapshot.get("turns") for revision in (old, new)):
        copies = PAIR_TURN_COPIES
    else:
        copies = ()
    rows = []
    for name in DIFF_FIELDS:
        if name == "turns":
            rows += turn_rows(old.snapshot.get("turns") or [], new.snapshot.get("turns") or [])
            continue
        if name in copies:
            continue
        before, after = as_text(old.snapshot.get(name)), as_text(new.snapshot.get(name))
        left, right = diff_text(before, after)
        label = PAIR_LABELS.get(name) if pair or name == "rejected" else None
        rows.append(
            {
                "field": name,
                "label": label,
                "changed": before != after,
                "left": left,
                "right": right,
            }
        )
    return rows


def turn_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """The turns of two revisions matched up: an unchanged turn is left out, an edited one
    shows its word diff, and a turn only one side has shows as ``added`` or ``removed``.

    Turns are matched as difflib matches lines, so an exchange inserted in the middle shows as
    two turns added, not as every later turn changed. Numbers are those of the newer revision,
    or of the older one for a removed turn.
    """
    a = [(str(t.get("role", "")), str(t.get("content", ""))) for t in old]
    b = [(str(t.get("role", "")), str(t.get("content", ""))) for t in new]
    rows: list[dict] = []

    def row(change: str, n: int, role: str, before: str, after: str) -> None:
        left, right = diff_text(before, after)
        rows.append(
            {
                "field": "turns",
                "label": None,
                "changed": True,
                "left": left,
                "right": right,
                "turn": {"n": n, "role": role, "change": change},
            }
        )

    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        olds, news = list(range(i1, i2)), list(range(j1, j2))
        # Within a replaced block, turns in the same place with the same role were edited.
        while olds and news and a[olds[0]][0] == b[news[0]][0]:
            i, j = olds.pop(0), news.pop(0)
            row("changed", j + 1, b[j][0], a[i][1], b[j][1])
        for i in olds:
            row("removed", i + 1, a[i][0], a[i][1], "")
        for j in news:
            row("added", j + 1, b[j][0], "", b[j][1])
    return rows


def restore(
    *,
    session: Session,
    item_id: int,
    version: int,
    expected_version: int,
    editor: User,
    limits: ContentLimits | None = None,
):
    """Save an old revision's content as a new version (history is never rewritten), through
    the same checks as any save: a revision longer than today's limits is refused."""
    old = get_revision(session=session, item_id=item_id, version=version)
    draft = items.draft_of(old.snapshot)
    return items.update_item(
        session=session,
        item_id=item_id,
        draft=draft,
        expected_version=expected_version,
        editor=editor,
        limits=limits,
    )
