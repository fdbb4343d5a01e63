"""A bootstrap round's proposals (Self-Instruct): each candidate instruction is checked with
the paper's heuristics (too short, too long, asks for images or files, ...), then against every
instruction in the project and every one kept before it (ROUGE-L 0.7 or more is dropped), then
against the project's near-duplicates. Survivors land as drafts marked *generated* with their
round; the job's figures count what was proposed, filtered (by reason) and kept."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import selfinstruct
from app.core.cjk import has_cjk
from app.core.generation import GenerationBatch, GenerationSpec
from app.core.generation import GenerationInput as InputOut
from app.core.kinds import CONTENT_FIELDS
from app.core.langid import detect_language
from app.core.provenance import Origin, Provenance
from app.items import checks, service
from app.items.schemas import ItemDraft
from app.models import GenerationInput, Item, Job, Project, User

NEAR_DUPLICATE = "near_duplicate"
UNREADABLE = "unreadable"  # text the worker could not split into instructions
NO_AUTHOR = "no_author"


def keep(
    session: Session, *, job: Job, spec: GenerationSpec, batch: GenerationBatch
) -> list[InputOut]:
    """Filter the batch's candidates, write the survivors as drafts, count everything; the
    drafts to answer (when the job answers its instructions) come back as new inputs."""
    project = session.get(Project, job.project_id)
    launcher = session.get(User, job.created_by) if job.created_by else None
    pool = selfinstruct.SimilarityIndex(
        session.scalars(select(Item.instruction).where(Item.project_id == job.project_id))
    )
    rejected: Counter[str] = Counter()
    rejected[UNREADABLE] += batch.unreadable
    kept: list[Item] = []
    for candidate in batch.candidates:
        text = " ".join(candidate.instruction.split())
        # The paper's rules by script (a short line's language cannot be told reliably);
        # the draft records the language detected, as any new item does.
        reason = selfinstruct.reject_reason(text, language="zh" if has_cjk(text) else "en")
        language = detect_language(text)
        if reason is None and pool.max_rouge_l(text)[0] >= selfinstruct.ROUGE_L_THRESHOLD:
            reason = "similar"
        if reason is None and checks.near_duplicates(
            session, project_id=job.project_id, text=text, exclude_id=None, limit=1
        ):
            reason = NEAR_DUPLICATE
        if reason is None and launcher is None:
            reason = NO_AUTHOR
        if reason is not None:
            rejected[reason] += 1
            continue
        pool.add(text)
        kept.append(_draft(session, project, launcher, job, text, language, candidate.round))
    _count(job, proposed=len(batch.candidates) + batch.unreadable, kept=kept, rejected=rejected)
    if not spec.answer or not kept:
        return []
    rows = [
        GenerationInput(job_id=job.id, item_id=item.id, item_version=item.version, state="pending")
        for item in kept
    ]
    session.add_all(rows)
    session.flush()
    return [
        InputOut(
            input_id=row.id,
            item_id=item.id,
            content={name: getattr(item, name) for name in CONTENT_FIELDS},
        )
        for row, item in zip(rows, kept, strict=True)
    ]


def _draft(session, project, launcher, job, text, language, round_) -> Item:
    return service.create_item(
        session=session,
        project=project,
        draft=ItemDraft(kind="task", instruction=text, language=language),
        author=launcher,
        provenance=Provenance(origin=Origin.generated, job_id=job.id, round=round_),
        job_id=job.id,
    )


def _count(job: Job, *, proposed: int, kept: list[Item], rejected: Counter[str]) -> None:
    metrics = dict(job.metrics or {})
    metrics["proposed"] = int(metrics.get("proposed", 0)) + proposed
    metrics["kept"] = int(metrics.get("kept", 0)) + len(kept)
    filtered = dict(metrics.get("filtered") or {})
    for reason, n in rejected.items():
        if n:
            filtered[reason] = int(filtered.get(reason, 0)) + n
    metrics["filtered"] = filtered
    job.metrics = metrics
