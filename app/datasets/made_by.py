"""How a version's items were made, for its dataset card: items per origin (written,
imported, augmented, generated…) and how many of the pinned outputs a model drafted (the
pinned revision is the drafting job's or a later edit of it)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from app.models import DatasetVersionItem, Item, ItemRevision


@dataclass(frozen=True)
class MadeBy:
    total: int
    origins: dict[str, int]
    drafted: int

    def share(self, n: int) -> str:
        return f"{100 * n / self.total:.1f}%" if self.total else "—"


def made_by(session: Session, version_id: int) -> MadeBy:
    pinned = aliased(ItemRevision)
    drafting = aliased(ItemRevision)
    rows = session.execute(
        select(Item.origin, func.count())
        .join(DatasetVersionItem, DatasetVersionItem.item_id == Item.id)
        .where(DatasetVersionItem.version_id == version_id)
        .group_by(Item.origin)
    ).all()
    drafted_then = exists().where(
        and_(
            drafting.item_id == Item.id,
            drafting.job_id == Item.drafted_job_id,
            drafting.version <= pinned.version,
        )
    )
    drafted = session.scalar(
        select(func.count())
        .select_from(DatasetVersionItem)
        .join(Item, Item.id == DatasetVersionItem.item_id)
        .join(pinned, pinned.id == DatasetVersionItem.revision_id)
        .where(
            DatasetVersionItem.version_id == version_id,
            Item.drafted_job_id.is_not(None),
            drafted_then,
        )
    )
    origins = {origin: n for origin, n in sorted(rows, key=lambda r: (-r[1], r[0]))}
    return MadeBy(total=sum(origins.values()), origins=origins, drafted=drafted or 0)


def card_line(found: MadeBy) -> str:
    """One line of the dataset card: the shares by origin, and of model-drafted outputs."""
    parts = ", ".join(f"{origin} {found.share(n)}" for origin, n in found.origins.items())
    return f"- Made: {parts or '—'}; outputs drafted by a model: {found.share(found.drafted)}"
