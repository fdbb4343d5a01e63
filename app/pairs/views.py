"""What the pairs pages show: a closed round's prompts with both outputs, their verdicts and
the pairs already made from them, a page at a time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.provenance import Origin
from app.items import repository
from app.models import EvalJudgment, EvalRound, EvalRoundPrompt, Item

PAGE_SIZE = 20


@dataclass
class PromptRow:
    prompt: EvalRoundPrompt
    verdicts: Counter = field(default_factory=Counter)  # verdict → judgments
    judged_pair: int | None = None  # the pair made from the round's verdicts
    improved: dict[str, list[int]] = field(default_factory=dict)  # system key → improved pairs


@dataclass(frozen=True)
class OutputsPage:
    rows: list[PromptRow]
    page: int
    pages: int
    total: int


def round_outputs(
    session: Session, *, found: EvalRound, page: int, drafts_of: int | None
) -> OutputsPage:
    """One page of the round's prompts in order, with what was made of them so far."""
    total = session.scalar(
        select(func.count())
        .select_from(EvalRoundPrompt)
        .where(EvalRoundPrompt.round_id == found.id)
    )
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    prompts = list(
        session.scalars(
            select(EvalRoundPrompt)
            .where(EvalRoundPrompt.round_id == found.id)
            .order_by(EvalRoundPrompt.position)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    rows = {p.id: PromptRow(p) for p in prompts}
    if rows:
        for prompt_id, verdict in session.execute(
            select(EvalJudgment.prompt_id, EvalJudgment.verdict).where(
                EvalJudgment.prompt_id.in_(rows)
            )
        ):
            rows[prompt_id].verdicts[verdict] += 1
        _made(session, found, rows, drafts_of)
    return OutputsPage(list(rows.values()), page, pages, total)


def _made(
    session: Session, found: EvalRound, rows: dict[int, PromptRow], drafts_of: int | None
) -> None:
    """The pairs made from these prompts: judged from the round, improved from its outputs."""
    item_ids = {r.prompt.item_id for r in rows.values() if r.prompt.item_id is not None}
    by_item = {r.prompt.item_id: r for r in rows.values() if r.prompt.item_id is not None}
    judged = select(Item.id, Item.provenance).where(
        Item.project_id == found.project_id,
        Item.origin == Origin.judged,
        Item.provenance["round_id"].as_integer() == found.id,
        Item.provenance["round_prompt_id"].as_integer().in_(sorted(rows)),
    )
    for item_id, provenance in session.execute(repository.visible(judged, drafts_of)):
        row = rows.get((provenance or {}).get("round_prompt_id"))
        if row is not None:
            row.judged_pair = item_id
    if not item_ids:
        return
    improved = select(Item.id, Item.provenance).where(
        Item.project_id == found.project_id,
        Item.origin == Origin.improved,
        Item.provenance["item_id"].as_integer().in_(sorted(item_ids)),
    )
    for item_id, provenance in session.execute(
        repository.visible(improved, drafts_of).order_by(Item.id)
    ):
        row = by_item.get((provenance or {}).get("item_id"))
        if row is not None:
            row.improved.setdefault(str(provenance.get("system")), []).append(item_id)
