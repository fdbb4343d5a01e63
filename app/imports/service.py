"""Importing files: store the upload, then import it in one pass; the new items' search terms
and near-duplicate keys follow in a second pass (``app.imports.indexer``).

"All or nothing" imports nothing when the report has a problem; "valid rows" imports the
rest. Either way, an item whose content is already in the project is skipped, so importing
the same file twice adds nothing. Reading and checking rows is app.imports.reader's work.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import metrics
from app.audit import service as audit
from app.core.formats import chats, cleaning, readers
from app.core.kinds import dump_hash
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.imports import reader
from app.imports.matches import Existing
from app.imports.reader import ImportOptions, Progress
from app.imports.rows import CheckedRows, FileRows, estimated_rows
from app.imports.writer import ItemWriter
from app.items.lengths import ContentLimits
from app.models import ImportJob, Project, User
from app.models.base import utcnow


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


TASK_MATCHES = ("skip", "import")
# Rows between two progress reports (and, in a background import, two commits).
CHECKPOINT_ROWS = 5000
# Rows the write pass reads between two offers of the GIL to the writing thread
# (``time.sleep(0)`` releases it, and a thread waiting for it takes it then). That thread waits
# on the database with the GIL released, and taking it back from a thread that is computing
# costs up to the interpreter's switch interval (5 ms) each time, the database idle meanwhile:
# the rows phase took about a tenth longer on PostgreSQL (bench/import_speed.py; yielding every
# 8 rows cost more than it gave).
YIELD_ROWS = 32
# Commits the session's work with a checkpoint: (state, phase, done, total).
Commit = Callable[[dict[str, Any], str, int, int], None]


@dataclass
class Tally:
    """How far an import got: rows read, items created, duplicates skipped, rows with
    problems. Committed with each batch, so a resumed import goes on counting."""

    rows: int = 0
    created: int = 0
    skipped: int = 0  # matches included
    invalid: int = 0
    matched: int = 0  # conversations skipped for an imported task of their first exchange
    problems: list[dict[str, Any]] = field(default_factory=list)

    def note_problem(self, number: int, reasons: list[str]) -> None:
        self.invalid += 1
        if len(self.problems) < reader.MAX_REPORTED:
            self.problems.append({"number": number, "reasons": reasons})


def check_options(job: ImportJob, options: ImportOptions) -> str:
    """The schema the rows will be read as, once the options are known to be usable."""
    if options.mode not in reader.MODES or options.status not in ("draft", "submitted"):
        raise InvalidInput(N_("Choose how to import."), errors={"mode": N_("Invalid.")})
    bad = set(options.cleaning) - set(cleaning.RULES)
    if bad:
        raise InvalidInput(N_("Unknown cleaning rule."), errors={"cleaning": N_("Invalid.")})
    if options.one_exchange not in chats.FORMS:
        raise InvalidInput(
            N_("Choose what a chat of one exchange becomes."),
            errors={"one_exchange": N_("Invalid.")},
        )
    if options.task_matches not in TASK_MATCHES:
        raise InvalidInput(
            N_("Choose what happens to conversations that match an imported task."),
            errors={"task_matches": N_("Invalid.")},
        )
    return reader.schema_for(job, options)


def run(
    *,
    session: Session,
    job_id: int,
    options: ImportOptions,
    actor: User,
    progress: Progress | None = None,
    commit: Commit | None = None,
    resume: dict[str, Any] | None = None,
    batch_rows: int = CHECKPOINT_ROWS,
) -> ImportJob:
    """Import the file into the project.

    All-or-nothing mode first checks every row and writes nothing when any has a problem (the
    rows it converted are kept for the write pass, ``app.imports.rows``). Rows are then written
    in batches; with ``commit`` each batch is committed with a checkpoint (the tally), and an
    import resumed from ``resume`` skips the rows it already read. An item whose content is
    already in the project is skipped.
    """
    job = job_of(session=session, job_id=job_id)
    if job.state in ("done", "failed", "cancelled"):
        raise Conflict(N_("This import has already run."))
    schema = check_options(job, options)
    project = session.get(Project, job.project_id)
    job.options = options.as_dict()
    job.schema = schema
    job.state = "running"
    session.flush()
    tally = Tally(**resume) if resume else None
    checked = None
    if tally is None and options.mode == "all_or_nothing":
        report, checked = _check_rows(job, options, schema, progress)
        if report.invalid or report.rows == 0:
            return _refused(session, job, report)
    tally = tally or Tally()
    rows = checked or FileRows(job, options, schema, skip=tally.rows)
    try:
        _write_rows(
            session, job, project, options, actor, tally, rows, commit, progress, batch_rows
        )
    finally:
        rows.close()
    if tally.rows == 0:
        return _refused(session, job, tally)
    job.rows_total = job.rows_done = tally.rows
    job.error_count = tally.invalid
    job.errors = tally.problems
    job.created_items = tally.created
    job.skipped_duplicates = tally.skipped
    job.finished_at = utcnow()
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
            "created": tally.created,
            "skipped": tally.skipped,
            "invalid": tally.invalid,
            "matched": tally.matched,
            "mode": options.mode,
        },
    )
    if progress:
        progress("importing", tally.rows, tally.rows)
    return job


def _check_rows(
    job: ImportJob, options: ImportOptions, schema: str, progress
) -> tuple[Tally, CheckedRows | None]:
    """Read and check every row, writing nothing to the database; the converted rows are kept
    for the write pass while none has a problem."""
    tally = Tally()
    checked: CheckedRows | None = CheckedRows(Path(job.path).parent)
    limits = ContentLimits.of()
    try:
        with Path(job.path).open("rb") as f:
            for record in reader.iter_records(f, job.container):
                tally.rows += 1
                if progress and tally.rows % 5000 == 0:
                    estimate = estimated_rows(tally.rows, f.tell(), job.size)
                    progress("checking", tally.rows, estimate)
                row = reader.convert_row(record, options, schema, limits)
                if row.draft is None:
                    tally.note_problem(row.number, row.errors)
                    if checked is not None:  # nothing will be written: stop keeping rows
                        checked.close()
                        checked = None
                elif checked is not None:
                    checked.add(row.draft)
    except BaseException:
        if checked is not None:
            checked.close()
        raise
    return tally, checked


def _refused(session: Session, job: ImportJob, tally: Tally) -> ImportJob:
    job.rows_total = job.rows_done = tally.rows
    job.error_count = tally.invalid
    job.errors = tally.problems
    job.finished_at = utcnow()
    job.state = "failed"
    job.message = (
        "The file is empty."
        if tally.rows == 0
        else "Nothing was imported: the report lists problems and the mode is all-or-nothing."
    )
    session.flush()
    return job


def _write_rows(
    session: Session,
    job: ImportJob,
    project: Project,
    options: ImportOptions,
    actor: User,
    tally: Tally,
    rows: CheckedRows | FileRows,
    commit: Commit | None,
    progress: Progress | None,
    batch_rows: int,
) -> None:
    skip_matches = options.task_matches == "skip"
    # Imported tasks' exchanges are read only when matches are to be skipped.
    known = Existing(session, project.id, job.schema if skip_matches else "")
    writer = ItemWriter(session, project, job, options.status, actor)
    seen = known.hashes
    created_before, counted = tally.created, tally.rows
    try:
        for number, row in rows:
            if row.draft is None:
                tally.note_problem(row.number, row.errors)
            else:
                content = row.draft["content"]
                digest = dump_hash(content)
                if digest in seen:
                    tally.skipped += 1
                elif skip_matches and known.matches_task(content):
                    tally.skipped += 1
                    tally.matched += 1
                else:
                    seen.add(digest)
                    writer.add(content, row.draft["meta"], digest, row.number)
            tally.rows = number
            if number % YIELD_ROWS == 0:
                time.sleep(0)  # the writing thread's turn (YIELD_ROWS)
            if number % batch_rows:
                continue
            metrics.IMPORT_ROWS.inc(number - counted)
            counted = number
            if commit:  # on the writing thread, once the batch's rows are written
                state, total = asdict(tally), rows.total(number)
                writer.flush(then=partial(_checkpoint, commit, writer, state, number, total))
            elif progress:
                progress("importing", number, rows.total(number))
        writer.flush()
        writer.finish()
        tally.created = created_before + writer.written
    finally:
        metrics.IMPORT_ROWS.inc(tally.rows - counted)
        writer.close()


def _checkpoint(
    commit: Commit, writer: ItemWriter, state: dict[str, Any], number: int, total: int
) -> None:
    """Commit the rows written so far with the tally of the rows read up to ``number``; its
    ``created`` counts the items of earlier attempts, and the writer's count adds this one's."""
    state["created"] += writer.written
    commit(state, "importing", number, total)


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
