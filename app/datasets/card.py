"""The dataset card (README.md) of an export: what is in it, what the format left out and why,
where it came from, how to check it."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.formats import pair_writers, writers
from app.core.kinds import ItemKind
from app.datasets import made_by
from app.models import DatasetVersion, DatasetVersionItem, Item, Project, Review

SPLITS = ("train", "eval")

_SFT_ROWS = (
    "Each row holds the rendered messages (a conversation's every turn, and the system prompt "
    "where there is one) and a `metadata` object (kind, item id, revision, demos, constraints, "
    "domain, tags, language, system prompt, turns) that Instruction Studio's importer reads back."
)
_PAIR_ROWS = (
    "Each row holds a preference pair: its prompt exactly as the model sees it (the system "
    "prompt, earlier turns, the request with its stated requirements), the chosen and the "
    "rejected response, and a `metadata` object (kind, item id, revision, instruction, input, "
    "demos, constraints, domain, tags, language, system prompt, turns) that Instruction "
    "Studio's importer reads back."
)
_PAIR_COLUMNS = {
    "trl_chat_jsonl": "Columns (TRL's conversational preference format): `prompt`, a list of "
    "messages; `chosen` and `rejected`, one assistant message each.",
    "trl_text_jsonl": "Columns (TRL's plain-text preference format): `prompt`, the user's "
    "message as rendered; `chosen` and `rejected`, the responses' text.",
    "hh_jsonl": "Columns (the chosen/rejected dialogue form of HH-RLHF and TRL's implicit "
    "prompt): `chosen` and `rejected`, each the whole dialogue as messages, the prompt's "
    "messages and then the response.",
}
_PAIR_COLUMNS["trl_chat_parquet"] = _PAIR_COLUMNS["trl_chat_jsonl"]
_PAIR_COLUMNS["trl_text_parquet"] = _PAIR_COLUMNS["trl_text_jsonl"]
_LEFT_OUT = {
    "pairs": "{n} preference pairs are not in these files: this format is for supervised "
    "fine-tuning. Export them as TRL preference or chosen/rejected dialogues.",
    "sft": "{n} supervised items (not preference pairs) are not in these files: this format "
    "holds preference pairs only.",
    "conversational_pairs": "{n} preference pairs whose prompt has a system prompt or earlier "
    "turns are not in these files: plain text has no place for them. Export them as TRL "
    "preference (the conversational form).",
}


def file_name(fmt: str, split: str) -> str:
    if fmt in pair_writers.FORMATS:
        return f"{split}{pair_writers.extension(fmt)}"
    return f"{split}{writers.extension(fmt)}"


def dataset_card(
    session: Session,
    version: DatasetVersion,
    fmt: str,
    format_name: str,
    left_out: Mapping[str, int] | None = None,
) -> str:
    """README.md of an export as ``format_name``; ``left_out`` counts the items the format
    could not hold, by reason (``export.LEFT_OUT``)."""
    project = session.get(Project, version.project_id)
    pinned_items = select(DatasetVersionItem.item_id).where(
        DatasetVersionItem.version_id == version.id
    )
    # One pass over the pinned items for both: (guideline version, author) pairs are few.
    pairs = session.execute(
        select(Item.guideline_version, Item.author_id).where(Item.id.in_(pinned_items)).distinct()
    ).all()
    authors = len({author for _, author in pairs if author is not None})
    reviewers = (
        session.scalar(
            select(func.count(func.distinct(Review.reviewer_id))).where(
                Review.item_id.in_(pinned_items)
            )
        )
        or 0
    )
    guideline_versions = sorted({guideline for guideline, _ in pairs})
    stats = version.stats or {}
    counts = stats.get("counts", {})

    def table(name: str) -> str:
        lines = [f"| {name} | items |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in counts.get(name, {}).items()]
        return "\n".join(lines)

    holds_pairs = fmt in pair_writers.FORMATS
    return "\n".join(
        [
            f"# {version.name}",
            "",
            f"Dataset version {version.id} of the project “{project.name}”, exported as "
            f"{format_name}.",
            "",
            f"- Items: {version.train_count + version.eval_count} "
            f"(train {version.train_count}, eval {version.eval_count})",
            *_pair_counts(session, version),
            f"- Manifest SHA-256: `{version.manifest_hash}`",
            f"- Split: seed {version.seed}, eval fraction {version.eval_fraction}, "
            "stratified by kind",
            f"- Filter: `{version.filter}`",
            f"- License: {version.license or 'not set'}",
            f"- Provenance: {authors} authors, {reviewers} reviewers, guideline versions "
            f"{', '.join(str(v) for v in guideline_versions) or '—'}",
            made_by.card_line(made_by.made_by(session, version.id)),
            f"- Created: {version.created_at.isoformat()}",
            "",
            "## Files",
            "",
            *[f"- `{file_name(fmt, s)}`: the {s} split" for s in SPLITS],
            "",
            _PAIR_ROWS if holds_pairs else _SFT_ROWS,
            *(["", _PAIR_COLUMNS[fmt]] if holds_pairs else []),
            *_left_out_lines(left_out or {}),
            "",
            "## Statistics",
            "",
            table("kind"),
            "",
            table("language"),
            "",
            table("domain"),
            "",
            *_pair_figures(stats.get("pairs") or {}),
        ]
    )


def _pair_counts(session: Session, version: DatasetVersion) -> list[str]:
    """The version's preference pairs and supervised items by split, when it holds pairs."""
    by_split = dict(
        session.execute(
            select(DatasetVersionItem.split, func.count())
            .where(
                DatasetVersionItem.version_id == version.id,
                DatasetVersionItem.kind == ItemKind.preference.value,
            )
            .group_by(DatasetVersionItem.split)
        ).all()
    )
    pairs = sum(by_split.values())
    if not pairs:
        return []
    train, evaluation = by_split.get("train", 0), by_split.get("eval", 0)
    sft = version.train_count + version.eval_count - pairs
    return [
        f"- Preference pairs: {pairs} (train {train}, eval {evaluation}); supervised items: "
        f"{sft} (train {version.train_count - train}, eval {version.eval_count - evaluation})"
    ]


def _left_out_lines(left_out: Mapping[str, int]) -> list[str]:
    lines = [f"- {_LEFT_OUT[reason].format(n=n)}" for reason, n in left_out.items() if n]
    return ["", "Left out of this export:", "", *lines] if lines else []


def _pair_figures(pairs: Mapping) -> list[str]:
    if not pairs.get("total"):
        return []
    words = pairs["words"]
    share = pairs["chosen_longer_share"]
    return [
        "### Preference pairs",
        "",
        f"- Mean words: chosen {words['chosen']['mean']}, rejected {words['rejected']['mean']}",
        f"- Chosen longer than rejected: {round(100 * share)}% of pairs (a model can learn "
        "length instead of quality)",
        "",
    ]
