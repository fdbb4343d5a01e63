"""Labeling existing items: overlap (k independent labels per item), blind mode,
and agreement between annotators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.assignments import service as assignments
from app.audit import service as audit
from app.core import agreement
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.items import repository as item_queries
from app.items.schemas import LabelIn
from app.models import Item, Label, Project, User
from app.models.base import utcnow

FLAGS = ("unsafe", "factually_wrong", "unclear")
FIELDS = {  # field → measurement level for agreement
    "kind": "nominal",
    "domain": "nominal",
    "difficulty": "ordinal",
    "quality": "ordinal",
    **{f"flag:{flag}": "nominal" for flag in FLAGS},
}


def next_item(
    *, session: Session, project: Project, annotator: User, drafts_of: int | None = None
) -> Item | None:
    """An item this annotator has not labeled, still short of the project's overlap.

    Items assigned to this annotator for labeling come first; then items closest to
    complete, so that each reaches k labels (and can be compared) before new ones are
    started. Authors never label their own items, and someone else's private draft (see
    ``app.members.access.drafts_of``) is served only to the person it was handed to.
    """
    counts = (
        select(Label.item_id, func.count().label("n"))
        .where(Label.project_id == project.id)
        .group_by(Label.item_id)
        .subquery()
    )
    mine = select(Label.item_id).where(Label.annotator_id == annotator.id)
    query = (
        select(Item)
        .outerjoin(counts, counts.c.item_id == Item.id)
        .where(
            Item.project_id == project.id,
            Item.id.not_in(mine),
            func.coalesce(counts.c.n, 0) < project.labeling_overlap,
            (Item.author_id.is_(None)) | (Item.author_id != annotator.id),
        )
        .order_by(
            assignments.task_first(annotator.id, "label"),
            func.coalesce(counts.c.n, 0).desc(),
            Item.id,
        )
        .limit(1)
    )
    return session.scalar(item_queries.visible(query, drafts_of))


def item_in_project(*, session: Session, project_id: int, item_id: int) -> tuple[Project, Item]:
    """The item and its own project; an item of another project is not found here, so a
    project's id in a URL never decides how another project's item is shown."""
    item = session.get(Item, item_id)
    if item is None or item.project_id != project_id:
        raise NotFound(N_("No item with id %(id)s."), id=item_id)
    return session.get_one(Project, item.project_id), item


def submit_label(
    *, session: Session, project: Project, item: Item, annotator: User, data: LabelIn
) -> Label:
    """Record this annotator's labels; labeling the same item again updates them, until the
    other annotators' labels have been shown to them (see :func:`others_for`)."""
    if item.project_id != project.id:
        raise InvalidInput(N_("This item belongs to another project."))
    if item.author_id == annotator.id:
        raise Conflict(N_("Authors do not label their own items."))
    # Locked, so that an edit cannot slip past a page that is revealing the others.
    label = session.scalar(
        select(Label)
        .where(Label.item_id == item.id, Label.annotator_id == annotator.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if label is not None and label.revealed_at is not None:
        raise Conflict(
            N_("Your labels on this item are final: you have seen the other annotators' labels.")
        )
    before = _snapshot(label) if label else None
    if label is None:
        taken = session.scalar(
            select(func.count()).select_from(Label).where(Label.item_id == item.id)
        )
        if taken >= project.labeling_overlap:
            raise Conflict(N_("This item already has all the labels it needs."))
        label = Label(item_id=item.id, project_id=project.id, annotator_id=annotator.id)
        session.add(label)
    label.kind = data.kind
    label.domain = (data.domain or "").strip() or None
    label.difficulty = data.difficulty
    label.quality = data.quality
    label.flags = sorted(set(data.flags))
    session.flush()
    audit.record(
        session,
        actor=annotator,
        action="label.saved",
        entity_type="item",
        entity_id=item.id,
        before=before,
        after=_snapshot(label),
    )
    return label


def _snapshot(label: Label) -> dict[str, Any]:
    return {
        "kind": label.kind,
        "domain": label.domain,
        "difficulty": label.difficulty,
        "quality": label.quality,
        "flags": list(label.flags or []),
    }


def visible_labels(*, session: Session, project: Project, item: Item, viewer: User) -> list[Label]:
    """Other annotators' labels, hidden in blind mode until the viewer has labeled."""
    labels = list(session.scalars(select(Label).where(Label.item_id == item.id).order_by(Label.id)))
    if project.blind_mode and not any(label.annotator_id == viewer.id for label in labels):
        return []
    return labels


def others_for(*, session: Session, project: Project, item: Item, viewer: User) -> list[Label]:
    """The other annotators' labels to show ``viewer`` beside the item. In blind mode,
    showing them freezes the viewer's own label: from then on it could copy theirs."""
    labels = visible_labels(session=session, project=project, item=item, viewer=viewer)
    others = [label for label in labels if label.annotator_id != viewer.id]
    own = next((label for label in labels if label.annotator_id == viewer.id), None)
    if project.blind_mode and others and own is not None and own.revealed_at is None:
        own.revealed_at = utcnow()
        session.flush()
    return others


def label_value(label: Label, field: str) -> Any:
    if field.startswith("flag:"):
        return field.split(":", 1)[1] in (label.flags or [])
    return getattr(label, field)


@dataclass
class FieldAgreement:
    field: str
    level: str
    alpha: agreement.AlphaResult
    pairs: list[agreement.PairKappa]


def project_agreement(*, session: Session, project: Project) -> tuple[list[FieldAgreement], dict]:
    """Per field: Cohen's kappa for each annotator pair and Krippendorff's alpha for all."""
    rows = session.execute(
        select(Label, User.email)
        .join(User, User.id == Label.annotator_id)
        .where(Label.project_id == project.id)
    ).all()
    results = []
    for field, level in FIELDS.items():
        by_annotator: dict[str, dict[int, Any]] = {}
        for label, email in rows:
            by_annotator.setdefault(email, {})[label.item_id] = label_value(label, field)
        ordinal = level == "ordinal"
        categories = [1, 2, 3, 4, 5] if ordinal else None
        pairs = agreement.pairwise_kappas(
            by_annotator, weights="quadratic" if ordinal else None, categories=categories
        )
        units = agreement.units_from_labels(by_annotator)
        alpha = agreement.krippendorff_alpha(units, level=level)
        results.append(FieldAgreement(field=field, level=level, alpha=alpha, pairs=pairs))
    summary = {
        "labels": len(rows),
        "annotators": len({email for _, email in rows}),
        "items": len({label.item_id for label, _ in rows}),
    }
    return results, summary
