"""Drafts derived from another item (augmentation, by a rule or a model): a new item of the
same kind with a rewritten instruction (or input), its source's constraints, and the output
re-checked against them; linked to its source ("augmented from #12 by paraphrase") and flagged
when it is a near-duplicate of its source or of anything in the project."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core import constraints as registry
from app.core.kinds import CONTENT_FIELDS
from app.core.provenance import Origin, Provenance
from app.errors import InvalidInput
from app.items import checks, indexing, service
from app.items.schemas import ItemDraft
from app.models import Item, Project, User


def derive(
    session: Session,
    *,
    source: Item,
    changes: dict[str, str],
    method: str,
    author: User,
    job_id: int | None = None,
    seed: int | None = None,
    drafted: bool = False,
) -> Item | None:
    """A new draft: ``source``'s content with ``changes`` (instruction, input, output) and
    its metadata, written for ``author`` (with ``job_id``: by that job, for the person who
    launched it; ``drafted``: its output is the model's). None when the changed content is
    not a valid item (the caller counts it)."""
    project = session.get(Project, source.project_id)
    values = {name: getattr(source, name) for name in CONTENT_FIELDS} | changes
    draft = ItemDraft.model_validate(
        values | {"domain": source.domain, "difficulty": source.difficulty, "tags": source.tags}
    )
    provenance = Provenance(
        origin=Origin.augmented,
        item_id=source.id,
        method=method,
        job_id=job_id,
        seed=seed,
        failed_checks=_failed(values) or None,
    )
    try:
        item = service.create_item(
            session=session,
            project=project,
            draft=draft,
            author=author,
            provenance=provenance,
            job_id=job_id,
            drafted=drafted,
        )
    except InvalidInput:
        return None
    twin = checks.near_duplicates(
        session,
        project_id=item.project_id,
        text=indexing.item_text(item),
        exclude_id=item.id,
        limit=1,
    )
    if twin:
        flagged = provenance.model_copy(update={"near_duplicate_of": twin[0][0].id})
        item.provenance = flagged.details()
    return item


def _failed(values: dict) -> list[str]:
    """The constraints the output fails (an unknown or broken constraint counts as failed)."""
    refs = values.get("constraints") or []
    try:
        verdicts = registry.check_all(refs, values.get("output") or "")
    except (ValueError, KeyError):
        return [str(ref.get("id")) for ref in refs]
    return [str(ref["id"]) for ref, verdict in verdicts if not verdict.passed]
