"""A job's metrics per kind, language and domain of its eval items, and the groups whose tuned
score fell while the overall score rose: an average that improves can hide a group that got
worse, and the overall table alone would never show it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.i18n import N_
from app.jobs.results import Row, table
from app.models import DatasetVersionItem, EvalPrediction, Item, ItemRevision

NO_DOMAIN = ""  # the group key of items without a domain; shown as NO_DOMAIN_LABEL
NO_DOMAIN_LABEL = N_("(no domain)")
UNKNOWN_LANGUAGE = "unknown"
# One whole sentence per grouping, so that a translator can order its words freely.
FELL_SENTENCES = {
    "kind": N_(
        "Tuned %(metric)s fell for kind %(group)s (%(delta)s) while it rose overall (%(overall)s)."
    ),
    "language": N_(
        "Tuned %(metric)s fell for language %(group)s (%(delta)s) while it rose overall "
        "(%(overall)s)."
    ),
    "domain": N_(
        "Tuned %(metric)s fell for domain %(group)s (%(delta)s) while it rose overall "
        "(%(overall)s)."
    ),
}
# Means of the same scores summed in another order differ in the last bits; such a difference
# is no change and must not raise a flag.
TOLERANCE = 1e-9
CHUNK = 500


@dataclass(frozen=True)
class Traits:
    """What an eval item is about, as the job's dataset version pinned it."""

    language: str
    domain: str  # NO_DOMAIN when it has none


@dataclass(frozen=True)
class Fell:
    """One metric that got worse for one group while it got better overall."""

    group_by: str  # "kind", "language" or "domain"
    group: str
    metric: str
    delta: float
    overall_delta: float


@dataclass(frozen=True)
class Group:
    """The eval items of one group: how many, and their metrics table."""

    size: int
    rows: list[Row]


@dataclass(frozen=True)
class Breakdown:
    """Every table of the results: overall, then per group of each grouping."""

    overall: list[Row]
    groups: dict[str, dict[str, Group]]  # group_by -> group -> its table
    fell: list[Fell] = field(default_factory=list)

    def tables(self, group_by: str) -> dict[str, list[Row]]:
        return {name: g.rows for name, g in self.groups[group_by].items()}

    def flagged(self, group_by: str, group: str) -> frozenset[str]:
        """The metrics of this group's table to mark."""
        return frozenset(f.metric for f in self.fell if (f.group_by, f.group) == (group_by, group))


def traits_of(session: Session, version_id: int, item_ids: Iterable[int]) -> dict[int, Traits]:
    """Language and domain of each item from the revision the version pinned, in one query per
    chunk of items. A snapshot older than the language field falls back to the item's own
    column; an item the version never pinned (reported by a confused worker) to the item row."""
    ids = sorted(set(item_ids))
    found: dict[int, Traits] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        query = (
            select(Item.id, Item.language, Item.domain, ItemRevision.snapshot)
            .outerjoin(
                DatasetVersionItem,
                and_(
                    DatasetVersionItem.item_id == Item.id,
                    DatasetVersionItem.version_id == version_id,
                ),
            )
            .outerjoin(ItemRevision, ItemRevision.id == DatasetVersionItem.revision_id)
            .where(Item.id.in_(chunk))
        )
        for item_id, language, domain, snapshot in session.execute(query):
            found[item_id] = pinned_traits(snapshot, language, domain)
    return found


def pinned_traits(snapshot: object, language: str | None, domain: str | None) -> Traits:
    """Language and domain as a pinned revision holds them, else as the item row does."""
    pinned = snapshot if isinstance(snapshot, dict) else {}
    language = pinned.get("language") if "language" in pinned else language
    domain = pinned.get("domain") if "domain" in pinned else domain
    return Traits(
        language=(language or "").strip() or UNKNOWN_LANGUAGE,
        domain=(domain or "").strip() or NO_DOMAIN,
    )


def by_group(
    predictions: list[EvalPrediction], key: Callable[[EvalPrediction], str]
) -> dict[str, Group]:
    """A metrics table per group, by group name; items without a domain come last."""
    members: dict[str, list[EvalPrediction]] = {}
    for p in predictions:
        members.setdefault(key(p), []).append(p)
    order = sorted(members, key=lambda name: (name == NO_DOMAIN, name))
    return {name: Group(len(members[name]), table(members[name])) for name in order}


def fell_while_overall_rose(overall: list[Row], groups: dict[str, dict[str, Group]]) -> list[Fell]:
    """Per metric: the groups whose tuned − base is below zero while overall it is above."""
    rose = {r.metric: r.delta for r in overall if r.delta is not None and r.delta > TOLERANCE}
    fell = []
    for group_by, tables in groups.items():
        for group, found in tables.items():
            for row in found.rows:
                if row.metric in rose and row.delta is not None and row.delta < -TOLERANCE:
                    fell.append(Fell(group_by, group, row.metric, row.delta, rose[row.metric]))
    return fell


def breakdown(session: Session, *, version_id: int, predictions: list[EvalPrediction]) -> Breakdown:
    """The job's metrics overall and per kind, language and domain, with the flagged groups."""
    traits = traits_of(session, version_id, (p.item_id for p in predictions))
    unknown = Traits(UNKNOWN_LANGUAGE, NO_DOMAIN)
    groups = {
        "kind": by_group(predictions, lambda p: p.kind),
        "language": by_group(predictions, lambda p: traits.get(p.item_id, unknown).language),
        "domain": by_group(predictions, lambda p: traits.get(p.item_id, unknown).domain),
    }
    overall = table(predictions)
    return Breakdown(overall, groups, fell_while_overall_rose(overall, groups))
