"""The demo's model-drafted outputs: once the demo's fine-tune has succeeded, a generation job
with its tuned model drafts the outputs of the demo's prompts that have none (tagged
``awaiting-answer``), so a new user finds model-drafted drafts to review, each
marked with the job and, once edited, how much was changed."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session

from app.core.generation import GenerationSpec
from app.errors import DomainError
from app.items.repository import ItemFilter
from app.jobs.generation import launch
from app.models import Job, User

log = logging.getLogger(__name__)
# Short answers, greedy: the tiny model's drafts are for trying the review of model drafts.
SPEC = GenerationSpec(task="draft", max_new_tokens=96)


def queue_drafts(session: Session, job: Job, actor: User, artifacts_root: str | Path) -> Job | None:
    """Queue the drafting job with ``job``'s tuned model; None when there is nothing to
    draft (the prompts have outputs already) or it cannot be launched (logged)."""
    try:
        with session.begin_nested():
            return launch.launch(
                session=session,
                project_id=job.project_id,
                spec=SPEC,
                base_model=None,
                actor=actor,
                item_filter=ItemFilter(project_id=job.project_id, status="draft"),
                start_job_id=job.id,
                artifacts_root=artifacts_root,
            )
    except DomainError as error:
        log.info("The demo's drafting job was not queued: %s", error)
    return None
