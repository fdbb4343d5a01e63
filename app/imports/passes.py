"""An import's passes over its file: the check pass of an all-or-nothing import, then the write
pass, which writes the rows a batch at a time (``app.imports.writer``), each batch committed with
the tally that lets a resumed import go on from there.

The check pass reads and converts every row before anything is committed, and keeps the rows
it converted for the write pass (``app.imports.rows``). On PostgreSQL it also *writes ahead*:
the first rows it finds valid (``AHEAD_BATCHES`` batches) go to the writer as they are checked,
into the transaction the pass holds open, so that the server writes them while the client checks
the rest (on two cores the check pass otherwise left the server idle for a fifth of the import).
A problem rolls that transaction back, and nothing was written; a clean file commits it with
the tally of those rows, and the write pass goes on from the next row. SQLite writes nothing
ahead: its write lock would be held for the whole pass, every other writer waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app import bulk, metrics
from app.core.kinds import dump_hash
from app.imports import reader
from app.imports.matches import Existing
from app.imports.reader import ImportOptions, Progress, RowResult
from app.imports.rows import CheckedRows, estimated_rows
from app.imports.writer import ItemWriter
from app.items.lengths import ContentLimits
from app.models import ImportJob, Project, User

# Batches the check pass of a PostgreSQL import writes ahead, uncommitted: as many rows as the
# server writes in about the time the client takes to check a file of 100,000, and a bound on
# the rows held in memory for the writer.
AHEAD_BATCHES = 3
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


class Writing:
    """The write pass's state: the rows read so far (``tally``), the project's and the file's
    content hashes (an item already there is skipped), and the writer."""

    def __init__(
        self,
        session: Session,
        job: ImportJob,
        project: Project,
        options: ImportOptions,
        actor: User,
        tally: Tally,
    ) -> None:
        self.skip_matches = options.task_matches == "skip"
        # Imported tasks' exchanges are read only when matches are to be skipped.
        self.known = Existing(session, project.id, job.schema if self.skip_matches else "")
        self.seen = self.known.hashes
        self.writer = ItemWriter(session, project, job, options.status, actor)
        self.tally = tally
        self.created_before, self.counted = tally.created, tally.rows

    def take(self, number: int, row: RowResult) -> None:
        """Row ``number`` of the file, as read: written unless it repeats an item."""
        tally = self.tally
        if row.draft is None:
            tally.note_problem(row.number, row.errors)
        else:
            content = row.draft["content"]
            digest = dump_hash(content)
            if digest in self.seen:
                tally.skipped += 1
            elif self.skip_matches and self.known.matches_task(content):
                tally.skipped += 1
                tally.matched += 1
            else:
                self.seen.add(digest)
                self.writer.add(content, row.draft["meta"], digest, row.number)
        tally.rows = number

    def commit(self, commit: Commit, total: int) -> None:
        """Commit what was taken so far with its tally (on the writing thread, once the rows
        are written: the next ones are read and converted meanwhile)."""
        self.count_rows()
        state = asdict(self.tally)
        self.writer.flush(then=partial(_checkpoint, commit, self, state, self.tally.rows, total))

    def count_rows(self) -> None:
        metrics.IMPORT_ROWS.inc(self.tally.rows - self.counted)
        self.counted = self.tally.rows

    def finish(self) -> None:
        """Write the rest and wait for it (an error on the writing thread is raised here)."""
        self.writer.flush()
        self.writer.finish()
        self.tally.created = self.created_before + self.writer.written

    def close(self) -> None:
        self.count_rows()
        self.writer.close()

    def abandon(self) -> None:
        """Stop writing (the caller rolls back what was written); no row counts as imported."""
        self.writer.abandon()


def check_rows(
    job: ImportJob,
    options: ImportOptions,
    schema: str,
    progress: Progress | None,
    ahead: Writing | None = None,
    batch_rows: int = 0,
) -> tuple[Tally, CheckedRows | None]:
    """Read and check every row, committing nothing; the converted rows are kept for the write
    pass while none has a problem. With ``ahead``, the first ``AHEAD_BATCHES`` batches of valid
    rows are handed to it instead, a batch at a time, and the rows kept are the ones after them
    (the caller commits or rolls back what it wrote)."""
    tally = Tally()
    limit = AHEAD_BATCHES * batch_rows if ahead is not None else 0
    checked: CheckedRows | None = None
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
                    limit = 0  # nothing will be written: stop writing and keeping rows
                    if checked is not None:
                        checked.close()
                elif tally.invalid:
                    continue
                elif tally.rows <= limit:
                    ahead.take(tally.rows, row)
                    if tally.rows % batch_rows == 0:
                        ahead.writer.flush()
                else:
                    checked = checked or CheckedRows(Path(job.path).parent, start=tally.rows - 1)
                    checked.add(row.draft)
    except BaseException:
        if checked is not None:
            checked.close()
        raise
    if tally.invalid:
        return tally, None
    return tally, checked or CheckedRows(Path(job.path).parent, start=tally.rows)


def write_rows(
    writing: Writing,
    rows: Iterable[tuple[int, RowResult]],
    total: Callable[[int], int],
    commit: Commit | None,
    progress: Progress | None,
    batch_rows: int,
) -> None:
    """Write ``rows``, committing (or reporting progress) every ``batch_rows`` rows of the file."""
    for number, row in rows:
        writing.take(number, row)
        if number % batch_rows:
            continue
        if commit:
            writing.commit(commit, total(number))
        else:
            writing.count_rows()
            if progress:
                progress("importing", number, total(number))
    writing.finish()


def writes_ahead(session: Session, options: ImportOptions, commit: Commit | None) -> bool:
    """Whether this import's check pass writes ahead: on PostgreSQL, when it commits batches."""
    return commit is not None and options.mode == "all_or_nothing" and bulk.is_postgresql(session)


def _checkpoint(
    commit: Commit, writing: Writing, state: dict[str, Any], number: int, total: int
) -> None:
    """Commit the rows written so far with the tally of the rows read up to ``number``; its
    ``created`` counts the items of earlier attempts, and the writer's count adds this one's."""
    state["created"] = writing.created_before + writing.writer.written
    commit(state, "importing", number, total)
