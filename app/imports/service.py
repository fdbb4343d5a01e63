"""Importing files: store the upload, then import it in one pass, then index the new items
for near duplicates.

"All or nothing" imports nothing when the report has a problem; "valid rows" imports the
rest. Either way, an item whose content is already in the project is skipped, so importing
the same file twice adds nothing. Reading and checking rows is app.imports.reader's work.
"""

from __future__ import annotations

import hashlib
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import bulk
from app.audit import service as audit
from app.core import neardup
from app.core.formats import cleaning, readers
from app.core.kinds import dump_hash
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.imports import reader
from app.imports.reader import ImportOptions, Progress
from app.imports.writer import ItemWriter, source_of
from app.models import ImportJob, Item, NearDupKey, Project, User
from app.models.base import utcnow

NEARDUP_BATCH = 1000
KEY_COLUMNS = ("item_id", "project_id", "band", "key")


class IncomingFile:
    """An upload as it is written into the imports folder: hashed and counted on the way.
    ``discard()`` removes what was written, so a failed upload leaves no file behind."""

    def __init__(self, folder: Path, filename: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.filename = Path(filename).name
        self.path = folder / f"{uuid.uuid4().hex}-{self.filename[-100:]}"
        self.size = 0
        self._digest = hashlib.sha256()
        self._out: BinaryIO = self.path.open("wb")

    def write(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self.size += len(chunk)
        self._out.write(chunk)

    def finish(self) -> None:
        self._out.close()

    def discard(self) -> None:
        self._out.close()
        self.path.unlink(missing_ok=True)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def store_upload(
    *,
    session: Session,
    project: Project,
    filename: str,
    stream: BinaryIO,
    folder: Path,
    actor: User,
) -> ImportJob:
    """Save the file (hashing it on the way) and record what it looks like."""
    incoming = IncomingFile(folder, filename)
    try:
        while chunk := stream.read(1 << 20):
            incoming.write(chunk)
        incoming.finish()
        return record_upload(session=session, project=project, upload=incoming, actor=actor)
    except BaseException:
        incoming.discard()
        raise


def record_upload(
    *, session: Session, project: Project, upload: IncomingFile, actor: User
) -> ImportJob:
    """Record a stored upload and what it looks like (its container and format)."""
    with upload.path.open("rb") as f:
        container = readers.detect_container(upload.filename, f.read(4096))
    job = ImportJob(
        project_id=project.id,
        filename=upload.filename[-300:],
        path=str(upload.path),
        file_hash=upload.sha256,
        size=upload.size,
        container=container,
        schema=reader.detect(upload.path, container),
        created_by=actor.id,
    )
    session.add(job)
    session.flush()
    return job


def run(
    *,
    session: Session,
    job_id: int,
    options: ImportOptions,
    actor: User,
    progress: Progress | None = None,
) -> ImportJob:
    """Import in one pass over the file, in the caller's transaction.

    Rows are written as they are read, inside a savepoint. In all-or-nothing mode the first
    problem rolls the savepoint back and the rest of the file is only checked, so the report is
    complete and nothing is written. An item whose content is already in the project is skipped.
    """
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(N_("No import with id %(id)s."), id=job_id)
    if job.state == "done":
        raise Conflict(N_("This import has already run."))
    if options.mode not in reader.MODES or options.status not in ("draft", "submitted"):
        raise InvalidInput(N_("Choose how to import."), errors={"mode": N_("Invalid.")})
    bad = set(options.cleaning) - set(cleaning.RULES)
    if bad:
        raise InvalidInput(N_("Unknown cleaning rule."), errors={"cleaning": N_("Invalid.")})
    schema = reader.schema_for(job, options)
    project = session.get(Project, job.project_id)
    job.options = options.as_dict()
    job.schema = schema
    job.state = "running"
    session.flush()
    writer = ItemWriter(session, project, job, options.status, actor)
    seen = set(session.scalars(select(Item.content_hash).where(Item.project_id == project.id)))
    total = invalid = skipped = 0
    problems: list[dict[str, Any]] = []
    savepoint = session.begin_nested()
    writing = True
    try:
        with Path(job.path).open("rb") as f:
            for record in reader.iter_records(f, job.container):
                total += 1
                if progress and total % 5000 == 0:
                    progress("importing", total, _estimated_rows(total, f.tell(), job.size))
                row = reader.convert_row(record, options, schema)
                if row.draft is None:
                    invalid += 1
                    if len(problems) < reader.MAX_REPORTED:
                        problems.append({"number": row.number, "reasons": row.errors})
                    if writing and options.mode == "all_or_nothing":
                        writer.discard()
                        savepoint.rollback()
                        writing = False
                    continue
                if not writing:
                    continue
                digest = dump_hash(row.draft["content"])
                if digest in seen:
                    skipped += 1
                    continue
                seen.add(digest)
                writer.add(row.draft["content"], row.draft["meta"], digest)
        if writing:
            writer.flush()
            writer.finish()
            savepoint.commit()
    finally:
        writer.close()
    job.rows_total = job.rows_done = total
    job.error_count = invalid
    job.errors = problems
    job.finished_at = utcnow()
    if total == 0 or not writing:
        job.state = "failed"
        job.message = (
            "The file is empty."
            if total == 0
            else "Nothing was imported: the report lists problems and the mode is all-or-nothing."
        )
        session.flush()
        return job
    job.created_items = writer.written
    job.skipped_duplicates = skipped
    job.state = "done"
    job.message = None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="import.completed",
        entity_type="import",
        entity_id=job.id,
        after={
            "file": job.filename,
            "sha256": job.file_hash,
            "created": writer.written,
            "skipped": skipped,
            "invalid": invalid,
            "mode": options.mode,
        },
    )
    if progress:
        progress("importing", total, total)
    return job


def _estimated_rows(done: int, position: int, size: int) -> int:
    """The file's row count, estimated from the share of its bytes read so far."""
    return max(done, round(done * size / position)) if position else done


def index_near_duplicates(
    *, session: Session, job_id: int, progress: Progress | None = None
) -> int:
    """The follow-up pass: near-duplicate keys for the items an import created."""
    job = job_of(session=session, job_id=job_id)
    total = session.scalar(
        select(func.count()).where(Item.project_id == job.project_id, Item.source == source_of(job))
    )
    rows = session.execute(
        select(Item.id, Item.instruction, Item.input, Item.output, Item.demos)
        .where(Item.project_id == job.project_id, Item.source == source_of(job))
        .order_by(Item.id)
        .execution_options(yield_per=NEARDUP_BATCH)
    )
    done = 0
    batches = rows.partitions()
    batch = next(batches, None)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="neardup-copy") as pool:
        writing: Future | None = None
        while batch:
            keys = _key_rows(job.project_id, batch)  # while the last batch's COPY runs
            if writing is not None:
                writing.result()
            # The connection is free again: fetch the next batch before handing it to the COPY.
            following = next(batches, None)
            writing = pool.submit(bulk.write, session, NearDupKey.__table__, KEY_COLUMNS, keys)
            done += len(batch)
            if progress:
                progress("indexing", done, total)
            batch = following
        if writing is not None:
            writing.result()
    return done


def _key_rows(project_id: int, batch) -> list[tuple[int, int, int, int]]:
    texts = [neardup.item_text(r.instruction, r.input, r.output, r.demos or []) for r in batch]
    rows = [
        (row.id, project_id, band, key)
        for row, item_keys in zip(batch, neardup.text_band_keys_many(texts), strict=True)
        for band, key in enumerate(item_keys)
    ]
    # Random keys would land on random pages of the (project, band, key) index; in its order
    # they fill it page by page. The primary key (item, band) grows at its end either way.
    rows.sort(key=_band_and_key)
    return rows


def _band_and_key(row: tuple[int, int, int, int]) -> tuple[int, int]:
    return row[2], row[3]


def job_of(*, session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(N_("No import with id %(id)s."), id=job_id)
    return job


def list_jobs(*, session: Session, project_id: int) -> list[ImportJob]:
    return list(
        session.scalars(
            select(ImportJob)
            .where(ImportJob.project_id == project_id)
            .order_by(ImportJob.id.desc())
            .limit(50)
        )
    )
