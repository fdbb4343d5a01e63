"""Freezing a dataset version: the items a filter selects, pinned to their latest revisions,
split, hashed and checked for contamination in one transaction (the version is usable once it
commits), then its statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import bulk
from app.audit import service as audit
from app.core import manifest
from app.datasets import contamination, lineage, statistics
from app.datasets.versions import VersionFilter, latest_revisions, matching
from app.errors import InvalidInput
from app.i18n import N_
from app.models import DatasetVersion, DatasetVersionItem, Item, ItemRevision, Project, User

FREEZE_PHASES = 4


def check_request(*, name: str, eval_fraction: float) -> None:
    """What can be checked before freezing starts: a name, and an eval fraction in [0, 1)."""
    if not name.strip():
        raise InvalidInput(N_("Give the version a name."), errors={"name": N_("Required.")})
    if not 0 <= eval_fraction < 1:
        raise InvalidInput(
            N_("The eval fraction must be at least 0 and below 1."),
            errors={"eval_fraction": N_("Invalid.")},
        )


def check_matches(session: Session, project_id: int, f: VersionFilter) -> None:
    """Refuse a filter that matches nothing before a freeze is queued for it."""
    if not session.scalar(select(matching(project_id, f).exists())):
        raise InvalidInput(N_("No items match this filter, so there is nothing to freeze."))


def create_version(
    *,
    session: Session,
    project: Project,
    name: str,
    f: VersionFilter,
    actor: User,
    seed: int = 13,
    eval_fraction: float = 0.1,
    license: str = "",
    progress: Callable[[str, int, int], None] | None = None,
) -> DatasetVersion:
    """Freeze the items that match the filter into a new, immutable version, statistics
    included. ``progress`` hears each phase: (phase, phases done, phases)."""
    version, rows = freeze(
        session=session,
        project=project,
        name=name,
        f=f,
        actor=actor,
        seed=seed,
        eval_fraction=eval_fraction,
        license=license,
        progress=progress,
    )
    (progress or _quiet)("statistics", 3, FREEZE_PHASES)
    add_statistics(session, version, rows)
    return version


StatRow = tuple[str, dict[str, Any], int | None]  # (split, snapshot, author id)


def freeze(
    *,
    session: Session,
    project: Project,
    name: str,
    f: VersionFilter,
    actor: User,
    seed: int = 13,
    eval_fraction: float = 0.1,
    license: str = "",
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[DatasetVersion, list[StatRow]]:
    """The version, pinned, split, hashed and checked for contamination: usable (exported,
    trained on) once committed. Its statistics are left to :func:`add_statistics`, for which
    the rows it pinned are answered."""
    check_request(name=name, eval_fraction=eval_fraction)
    step = progress or _quiet
    step("selecting", 0, FREEZE_PHASES)
    pinned_rows = latest_revisions(session, matching(project.id, f))
    if not pinned_rows:
        raise InvalidInput(N_("No items match this filter, so there is nothing to freeze."))
    step("pinning", 1, FREEZE_PHASES)
    version, splits = _pin(session, project, name, f, actor, seed, eval_fraction, license,
                           pinned_rows)  # fmt: skip
    step("contamination", 2, FREEZE_PHASES)
    snapshots = {item_id: rev.snapshot for item_id, *_, rev in pinned_rows}
    checked = contamination.check(
        session, version_id=version.id, project_id=project.id, snapshots=snapshots
    )
    made = lineage.check(session, version_id=version.id, project_id=project.id, snapshots=snapshots)
    # One finding per pair: a near-duplicate that lineage also explains says how.
    found = {(c["eval_item"], c["train_item"]): c for c in checked.found}
    for c in made:
        pair = (c["eval_item"], c["train_item"])
        found[pair] = {**found[pair], "via": c["via"]} if pair in found else c
    version.contamination = list(found.values())
    version.stats = {
        "contamination_check": {**checked.summary(), "model_made": len(made)},
    }
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="dataset.version_created",
        entity_type="dataset_version",
        entity_id=version.id,
        after={
            "name": version.name,
            "manifest": version.manifest_hash,
            "train": version.train_count,
            "eval": version.eval_count,
            "filter": version.filter,
        },
    )
    rows = [(splits[str(i)], rev.snapshot, author) for i, _kind, author, rev in pinned_rows]
    return version, rows


def add_statistics(
    session: Session, version: DatasetVersion, rows: list[StatRow] | None = None
) -> None:
    """Fill in the version's statistics, from the rows :func:`freeze` answered or, without
    them (a resumed freeze), from what the version pins."""
    if rows is None:
        rows = session.execute(
            select(DatasetVersionItem.split, ItemRevision.snapshot, Item.author_id)
            .join(ItemRevision, ItemRevision.id == DatasetVersionItem.revision_id)
            .join(Item, Item.id == DatasetVersionItem.item_id)
            .where(DatasetVersionItem.version_id == version.id)
        ).all()
    version.stats = {
        **statistics.summarize(session, rows),
        "contamination_check": (version.stats or {}).get("contamination_check"),
    }
    session.flush()


def has_statistics(version: DatasetVersion) -> bool:
    return "total" in (version.stats or {})


def _quiet(phase: str, done: int, total: int) -> None:
    """No one listens to the phases."""


def _pin(session, project, name, f, actor, seed, eval_fraction, license, pinned_rows):
    """Split the pinned revisions, hash the manifest, and write the version and its items."""
    entries = [(str(item_id), kind, rev.content_hash) for item_id, kind, _a, rev in pinned_rows]
    splits = manifest.assign_splits(entries, seed=seed, eval_fraction=eval_fraction)
    lines = [
        manifest.manifest_line(splits[str(item_id)], rev.snapshot)
        for item_id, *_, rev in pinned_rows
    ]
    version = DatasetVersion(
        project_id=project.id,
        name=name.strip(),
        filter=f.as_dict(),
        seed=seed,
        eval_fraction=eval_fraction,
        manifest_hash=manifest.manifest_hash(lines),
        train_count=sum(1 for s in splits.values() if s == "train"),
        eval_count=sum(1 for s in splits.values() if s == "eval"),
        license=license.strip(),
        created_by=actor.id,
    )
    session.add(version)
    session.flush()
    ordered = sorted(
        pinned_rows,
        key=lambda row: (
            splits[str(row[0])],
            manifest.split_key(seed, row[3].content_hash, str(row[0])),
        ),
    )
    # COPY on PostgreSQL: 100k pins are a large share of a freeze.
    bulk.write(
        session,
        DatasetVersionItem.__table__,
        ("version_id", "item_id", "revision_id", "revision", "split", "kind", "position"),
        [
            (version.id, item_id, rev.id, rev.version, splits[str(item_id)], kind, position)
            for position, (item_id, kind, _author, rev) in enumerate(ordered)
        ],
    )
    return version, splits
