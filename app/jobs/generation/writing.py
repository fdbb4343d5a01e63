"""What a generation job's answers become: a drafted output written onto the item it read
(``app.items.model_drafts``), or a new draft derived from it with the rewritten instruction
(``app.items.derived``). Each answer is written or turned down with a reason."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core.generation import GenerationResult, GenerationSpec
from app.core.generation_prompts import clean_reply
from app.items import derived, model_drafts
from app.models import GenerationInput, Item, Job, User

EDITED = model_drafts.EDITED
GONE = model_drafts.GONE
NO_TEXT = "no_text"  # the answer lacks what the task writes
UNCHANGED = "unchanged"  # the rewritten instruction is the source's own
NO_AUTHOR = "no_author"  # the person who launched the job is gone
INVALID = model_drafts.INVALID


def write(
    session: Session,
    *,
    job: Job,
    spec: GenerationSpec,
    row: GenerationInput,
    result: GenerationResult,
) -> str | None:
    """Write one answer; the reason it was not written, or None."""
    launcher = session.get(User, job.created_by) if job.created_by else None
    if spec.task in ("draft", "bootstrap"):  # a bootstrap answers the instructions it kept
        if result.output is None:
            return NO_TEXT
        return model_drafts.write_output(
            session=session,
            item_id=row.item_id,
            version=row.item_version,
            output=clean_reply(result.output),
            job_id=job.id,
            launcher=launcher,
        )
    return _augment(session, job, spec, row, result, launcher)


def _augment(session, job, spec, row, result, launcher) -> str | None:
    source = session.get(Item, row.item_id)
    if source is None:
        return model_drafts.GONE
    if source.version != row.item_version:
        return EDITED
    instruction = clean_reply(result.instruction or "")
    if not instruction:
        return NO_TEXT
    if " ".join(instruction.split()) == " ".join(source.instruction.split()):
        return UNCHANGED
    if launcher is None:
        return NO_AUTHOR
    changes = {"instruction": instruction}
    answered = result.output is not None and bool(clean_reply(result.output))
    if answered:
        changes["output"] = clean_reply(result.output)
    item = derived.derive(
        session,
        source=source,
        changes=changes,
        method=spec.task,
        author=launcher,
        job_id=job.id,
        drafted=answered,
    )
    if item is None:
        return INVALID
    row.result_item_id = item.id
    return None
