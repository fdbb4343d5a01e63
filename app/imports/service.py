"""Importing files: store the upload, then import it in one pass; the new items' search terms
and near-duplicate keys follow in a second pass (``app.imports.indexer``).

"All or nothing" imports nothing when the report has a problem; "valid rows" imports the
rest. Either way, an item whose content is already in the project is skipped, so importing
the same file twice adds nothing. Reading and checking rows is app.imports.reader's work.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core.formats import chats, cleaning, readers
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.imports import passes, reader
from app.imports.passes import Commit, Tally
from app.imports.reader import ImportOptions, Progress
from app.imports.rows import CheckedRows, FileRows
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

    All-or-nothing mode first checks every row and commits nothing when any has a problem (the
    rows it converted are kept for the write pass, and on PostgreSQL the first ones are written
    meanwhile: ``app.imports.passes``). Rows are then written in batches; with ``commit`` each
    batch is committed with a checkpoint (the tally), and an import resumed from ``resume``
    skips the rows it already read. An item whose content is already in the project is
    skipped.
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
    if not resume and options.mode == "all_or_nothing":
        checked = _check(
            session, job, project, options, schema, actor, progress, commit, batch_rows
        )
        if isinstance(checked, Tally):
            return _refused(session, job, checked)
        writing, rows = checked
        total = rows.total
    else:
        writing = passes.Writing(session, job, project, options, actor, Tally(**(resume or {})))
        rows = FileRows(job, options, schema, skip=writing.tally.rows)
        total = rows.total
    try:
        passes.write_rows(writing, rows, total, commit, progress, batch_rows)
    finally:
        rows.close()
        writing.close()
    tally = writing.tally
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


def _check(
    session: Session,
    job: ImportJob,
    project: Project,
    options: ImportOptions,
    schema: str,
    actor: User,
    progress: Progress | None,
    commit: Commit | None,
    batch_rows: int,
) -> Tally | tuple[passes.Writing, CheckedRows]:
    """The check pass: the report when a row has a problem (or there is none), else the write
    pass's state and the rows it is to write. The rows written ahead (``app.imports.passes``)
    are committed here when the file is clean, and rolled back when it is not."""
    ahead = savepoint = None
    if passes.writes_ahead(session, options, commit):
        ahead = passes.Writing(session, job, project, options, actor, Tally())
        savepoint = session.begin_nested()  # what a problem takes back: the rows written ahead
    try:
        report, checked = passes.check_rows(job, options, schema, progress, ahead, batch_rows)
    except BaseException:
        if ahead is not None:
            ahead.abandon()
        raise
    if report.invalid or report.rows == 0:
        if checked is not None:
            checked.close()
        if ahead is not None:
            ahead.abandon()
            savepoint.rollback()
        return report
    writing = ahead or passes.Writing(session, job, project, options, actor, Tally())
    if ahead is not None and ahead.tally.rows:
        ahead.commit(commit, report.rows)
    return writing, checked


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
