"""Closing the loop: items a job found hard go back to review, flagged by training."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.errors import InvalidInput
from app.i18n import N_
from app.jobs.service import get_job
from app.models import DatasetVersionItem, Item, User
from app.reviews import service as reviews

MAX_ITEMS = 500


@dataclass
class SendBack:
    reopened: list[int] = field(default_factory=list)
    # Items that were not approved any more (already back in review, rejected…): id → status.
    skipped: dict[int, str] = field(default_factory=dict)


def send_back(
    *, session: Session, job_id: int, item_ids: list[int], actor: User, comment: str = ""
) -> SendBack:
    """Reopen these items of the job's dataset version with the reason "flagged by training"
    and a link to the job; the review queue serves them first."""
    job = get_job(session=session, job_id=job_id)
    wanted = sorted(set(item_ids))
    if not wanted:
        raise InvalidInput(N_("Choose at least one item to send back."))
    if len(wanted) > MAX_ITEMS:
        raise InvalidInput(N_("Send back at most %(n)s items at once."), n=MAX_ITEMS)
    in_version = set(
        session.scalars(
            select(DatasetVersionItem.item_id).where(
                DatasetVersionItem.version_id == job.dataset_version_id,
                DatasetVersionItem.item_id.in_(wanted),
            )
        )
    )
    strangers = [i for i in wanted if i not in in_version]
    if strangers:
        raise InvalidInput(
            N_("Items %(ids)s are not in this job's dataset version."),
            ids=", ".join(f"#{i}" for i in strangers[:10]),
        )
    statuses = dict(session.execute(select(Item.id, Item.status).where(Item.id.in_(wanted))).all())
    result = SendBack()
    link = f"/jobs/{job.id}"
    for item_id in wanted:
        if statuses.get(item_id) != "approved":
            result.skipped[item_id] = statuses.get(item_id, "deleted")
            continue
        reviews.reopen(
            session=session,
            item_id=item_id,
            actor=actor,
            reason="flagged_by_training",
            comment=comment or f"job #{job.id}",
            link=link,
        )
        result.reopened.append(item_id)
    audit.record(
        session,
        actor=actor,
        action="job.sent_back",
        entity_type="job",
        entity_id=job.id,
        after={"reopened": result.reopened, "skipped": sorted(result.skipped)},
    )
    return result
