"""Exports of a dataset version: a folder (CLI) or a streamed zip (browser, API).

Rows are read with a server-side cursor and written split by split to a temporary file,
so memory does not grow with the dataset; the zip is produced as it is sent.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.formats import writers
from app.core.kinds import ItemContent
from app.datasets import versions
from app.errors import InvalidInput
from app.i18n import N_
from app.models import DatasetVersion, DatasetVersionItem, Item, Project, Review

FORMAT_NAMES = {
    "alpaca_json": "Alpaca JSON",
    "alpaca_jsonl": "Alpaca JSONL",
    "openai_jsonl": "OpenAI chat JSONL",
    "sharegpt_json": "ShareGPT JSON",
    "parquet": "Parquet",
}
SPLITS = ("train", "eval")


def check_format(fmt: str) -> str:
    if fmt not in writers.FORMATS:
        raise InvalidInput(
            N_("Unknown export format %(format)s."), format=fmt, errors={"format": N_("Invalid.")}
        )
    return fmt


def content_of(snapshot: dict[str, Any]) -> ItemContent:
    return ItemContent(
        **{
            k: snapshot[k]
            for k in (
                "kind",
                "instruction",
                "input",
                "output",
                "demos",
                "constraints",
                "rules",
                "state_constraints",
                "language",
            )
            if k in snapshot
        }
    )


def rows(session: Session, version_id: int, split: str) -> Iterator[dict[str, Any]]:
    for link, revision in versions.pinned(session, version_id, split):
        snap = revision.snapshot
        meta = {
            "item_id": link.item_id,
            "revision": link.revision,
            "domain": snap.get("domain"),
            "tags": snap.get("tags") or [],
            "difficulty": snap.get("difficulty"),
            "split": split,
        }
        yield writers.export_row(content_of(snap), meta)


def file_name(fmt: str, split: str) -> str:
    return f"{split}{writers.extension(fmt)}"


def dataset_card(session: Session, version: DatasetVersion, fmt: str) -> str:
    """README.md: what is in the export, where it came from, how to check it."""
    project = session.get(Project, version.project_id)
    pinned_items = select(DatasetVersionItem.item_id).where(
        DatasetVersionItem.version_id == version.id
    )
    authors = (
        session.scalar(
            select(func.count(func.distinct(Item.author_id))).where(Item.id.in_(pinned_items))
        )
        or 0
    )
    reviewers = (
        session.scalar(
            select(func.count(func.distinct(Review.reviewer_id))).where(
                Review.item_id.in_(pinned_items)
            )
        )
        or 0
    )
    guideline_versions = sorted(
        session.scalars(select(Item.guideline_version).where(Item.id.in_(pinned_items)).distinct())
    )
    stats = version.stats or {}
    counts = stats.get("counts", {})

    def table(name: str) -> str:
        lines = [f"| {name} | items |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in counts.get(name, {}).items()]
        return "\n".join(lines)

    return "\n".join(
        [
            f"# {version.name}",
            "",
            f"Dataset version {version.id} of the project “{project.name}”, exported as "
            f"{FORMAT_NAMES[fmt]}.",
            "",
            f"- Items: {version.train_count + version.eval_count} "
            f"(train {version.train_count}, eval {version.eval_count})",
            f"- Manifest SHA-256: `{version.manifest_hash}`",
            f"- Split: seed {version.seed}, eval fraction {version.eval_fraction}, "
            "stratified by kind",
            f"- Filter: `{version.filter}`",
            f"- License: {version.license or 'not set'}",
            f"- Provenance: {authors} authors, {reviewers} reviewers, guideline versions "
            f"{', '.join(str(v) for v in guideline_versions) or '—'}",
            f"- Created: {version.created_at.isoformat()}",
            "",
            "## Files",
            "",
            *[f"- `{file_name(fmt, s)}`: the {s} split" for s in SPLITS],
            "",
            "Each row holds the rendered prompt and response and a `metadata` object (kind, item "
            "id, revision, demos, constraints, domain, tags, language) that Instruction Studio's "
            "importer reads back.",
            "",
            "## Statistics",
            "",
            table("kind"),
            "",
            table("language"),
            "",
            table("domain"),
            "",
        ]
    )


def write_folder(session: Session, version_id: int, fmt: str, out: Path) -> list[Path]:
    """Write README.md and one file per split into a folder (the CLI's export)."""
    check_format(fmt)
    version = versions.get_version(session=session, version_id=version_id)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "README.md"]
    written[0].write_text(dataset_card(session, version, fmt), encoding="utf-8")
    for split in SPLITS:
        path = out / file_name(fmt, split)
        with path.open("wb") as f:
            writers.write(fmt, rows(session, version.id, split), f)
        written.append(path)
    return written


class _Sink:
    """A write-only, non-seekable buffer; zipfile then writes data descriptors."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def stream_zip(
    open_session: Callable[[], AbstractContextManager[Session]], version_id: int, fmt: str
) -> Iterator[bytes]:
    """The export as a zip, produced while it is sent; it outlives the request, so it reads
    through a session of its own (``app.state.open_session``)."""
    sink = _Sink()
    with open_session() as session, zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        version = versions.get_version(session=session, version_id=version_id)
        archive.writestr("README.md", dataset_card(session, version, fmt))
        yield sink.take()
        for split in SPLITS:
            with tempfile.TemporaryFile() as tmp:
                writers.write(fmt, rows(session, version.id, split), tmp)
                tmp.seek(0)
                with archive.open(file_name(fmt, split), "w", force_zip64=True) as entry:
                    while chunk := tmp.read(1 << 20):
                        entry.write(chunk)
                        yield sink.take()
    yield sink.take()
