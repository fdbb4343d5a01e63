"""Duplicate clusters in a project: exact (same content hash) and near (MinHash LSH),
and resolving a cluster by keeping one item and rejecting the rest."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from app.audit import service as audit
from app.core import neardup
from app.core import status as machine
from app.errors import Conflict, InvalidInput
from app.i18n import N_
from app.items import indexing
from app.models import Item, NearDupKey, Review, User
from app.models.base import utcnow

NEAR_THRESHOLD = 0.5
MAX_CLUSTERS = 100


@dataclass
class Cluster:
    kind: str  # "exact" or "near"
    items: list[Item]
    similarity: float


def exact_clusters(session: Session, project_id: int) -> list[Cluster]:
    hashes = session.scalars(
        select(Item.content_hash)
        .where(Item.project_id == project_id, Item.status != "rejected")
        .group_by(Item.content_hash)
        .having(func.count() > 1)
        .limit(MAX_CLUSTERS)
    ).all()
    clusters = []
    for chash in hashes:
        members = session.scalars(
            select(Item)
            .where(
                Item.project_id == project_id, Item.content_hash == chash, Item.status != "rejected"
            )
            .order_by(Item.id)
        ).all()
        clusters.append(Cluster("exact", list(members), 1.0))
    return clusters


def near_clusters(session: Session, project_id: int) -> list[Cluster]:
    """Candidate pairs share an LSH band key; pairs at or above the threshold are joined
    into clusters (union-find); exact copies are left to exact_clusters."""
    a, b = aliased(NearDupKey), aliased(NearDupKey)
    pairs = session.execute(
        select(a.item_id, b.item_id)
        .distinct()
        .join(
            b,
            (b.project_id == a.project_id)
            & (b.band == a.band)
            & (b.key == a.key)
            & (b.item_id > a.item_id),
        )
        .where(a.project_id == project_id)
        .limit(20000)
    ).all()
    if not pairs:
        return []
    ids = {i for pair in pairs for i in pair}
    items = {
        i.id: i
        for i in session.scalars(select(Item).where(Item.id.in_(ids), Item.status != "rejected"))
    }
    shingles = {i: neardup.shingles(indexing.item_text(item)) for i, item in items.items()}
    parent = {i: i for i in items}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    best: dict[int, float] = {}
    for x, y in pairs:
        if x not in items or y not in items or items[x].content_hash == items[y].content_hash:
            continue
        score = neardup.exact_jaccard(shingles[x], shingles[y])
        if score >= NEAR_THRESHOLD:
            rx, ry = find(x), find(y)
            parent[ry] = rx
            best[x] = max(best.get(x, 0), score)
            best[y] = max(best.get(y, 0), score)
    groups: dict[int, list[int]] = {}
    for i in best:
        groups.setdefault(find(i), []).append(i)
    clusters = [
        Cluster(
            "near", [items[i] for i in sorted(members)], round(max(best[i] for i in members), 3)
        )
        for members in groups.values()
        if len(members) > 1
    ]
    clusters.sort(key=lambda c: (-c.similarity, c.items[0].id))
    return clusters[:MAX_CLUSTERS]


def resolve(*, session: Session, project_id: int, keep: int, reject: list[int], actor: User) -> int:
    """Keep one item of a cluster and reject the others with the reason "duplicate"."""
    if keep in reject or not reject:
        raise InvalidInput(N_("Keep one item and choose at least one other to reject."))
    done = 0
    for item in session.scalars(
        select(Item).where(Item.id.in_(reject), Item.project_id == project_id).with_for_update()
    ):
        new_status = machine.next_status(item.status, "reject_duplicate")
        if new_status is None:
            raise Conflict(machine.WHY_NOT["reject_duplicate"], status=item.status)
        before = {"status": item.status, "version": item.version}
        decided = session.scalar(
            select(Review.id).where(
                Review.item_id == item.id,
                Review.item_version == item.version,
                Review.reviewer_id == actor.id,
            )
        )
        # One decision per reviewer and version: an admin who already approved this version
        # (the first of two approvals) rejects it as a duplicate without a second decision row.
        if decided is None:
            session.add(
                Review(
                    item_id=item.id,
                    project_id=project_id,
                    item_version=item.version,
                    reviewer_id=actor.id,
                    author_id=item.author_id,
                    decision="reject",
                    reason="duplicate",
                    comment=f"Duplicate of #{keep}",
                    submitted_at=item.submitted_at,
                    created_at=utcnow(),
                )
            )
        item.status = new_status
        item.lease_by = None
        item.lease_until = None
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="item.rejected_duplicate",
            entity_type="item",
            entity_id=item.id,
            before=before,
            after={"status": item.status, "version": item.version, "kept": keep},
        )
        done += 1
    return done
