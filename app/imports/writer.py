"""Writes imported rows in batches: items and their first revisions.

Each row becomes, as it is added, a tuple of the values the driver takes as they are (JSON
encoded once, by orjson; a tuple of plain values is left alone by the garbage collector): no
ORM object and no per-value conversion stands between a row and the database. On PostgreSQL
items and revisions go in by COPY, item ids reserved from the sequence up front; on SQLite by
multi-row INSERTs, the items' ids read back from the rowids they took (``app.bulk``).

A batch is written, and then committed when the caller commits there, on a second thread while
the next one is read and converted: the database's work (PostgreSQL's server, SQLite's B-trees)
runs without the GIL, so on two cores the rows phase takes less than the sum of the two. That
thread runs what it is handed in order, each job only once the one before it has succeeded, so
the caller never waits for a commit to be queued behind its batch; it waits only when two
batches are already queued. Only that thread uses the session meanwhile (PostgreSQL's ids are
reserved there too), and the caller touches it again only after :meth:`ItemWriter.finish`.

Search terms and near-duplicate keys are left to the follow-up pass (``app.imports.indexer``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any

from sqlalchemy import JSON, and_
from sqlalchemy.orm import Session

from app import bulk
from app.core.kinds import CONTENT_FIELDS
from app.core.provenance import Origin, imported
from app.items.service import META_FIELDS
from app.models import ImportJob, Item, ItemRevision, Project, User
from app.models.base import utcnow

# Rows a batch carries. PostgreSQL's server works on one while the next is converted, so
# smaller batches keep it busier; SQLite's work shares the GIL with the conversion, and each
# statement takes it back (a wait of up to the switch interval), so fewer, larger batches.
BATCH = 2000
SQLITE_BATCH = 5000
# Jobs the writing thread may hold at once (two batches, each with its commit): one written while
# the next waits, so a batch converted faster than the one before it is written does not wait.
QUEUED = 4
# What a first revision records: the item's content, its meta and its status.
SNAPSHOT = (*CONTENT_FIELDS, *META_FIELDS, "status")
ITEM_COLUMNS = (
    *SNAPSHOT,
    "provenance",
    "project_id",
    "origin",
    "author_id",
    "guideline_version",
    "content_hash",
    "version",
    "created_at",
    "updated_at",
    "submitted_at",
    "review_priority",
)
REVISION_COLUMNS = ("item_id", "version", "snapshot", "content_hash", "editor_id", "created_at")
# Where the item's JSON columns (demos, tags, ...) fall in SNAPSHOT.
_JSON_AT = tuple(
    at for at, name in enumerate(SNAPSHOT) if isinstance(Item.__table__.c[name].type, JSON)
)


def of_import(job: ImportJob):
    """The condition that finds the items an import wrote."""
    return and_(
        Item.project_id == job.project_id,
        Item.origin == Origin.imported,
        Item.provenance["import_id"].as_integer() == job.id,
    )


class ItemWriter:
    """Collects converted rows and writes them a batch at a time."""

    def __init__(
        self, session: Session, project: Project, job: ImportJob, status: str, actor: User
    ) -> None:
        self.session = session
        self.status = status
        self.copy = bulk.is_postgresql(session)
        self.batch = BATCH if self.copy else SQLITE_BATCH
        # project_id, origin, author_id, guideline_version: the same for every row.
        self.fixed = (project.id, Origin.imported.value, actor.id, project.guideline_version)
        self.job_id, self.filename = job.id, job.filename
        self.actor_id = actor.id
        self.items: list[tuple] = []  # values in ITEM_COLUMNS order
        self.revisions: list[tuple[str, str]] = []  # snapshot (JSON), content hash
        self.now: Any = None  # the batch's timestamp, as the driver takes it
        self.timestamp = bulk.binder(session, Item.__table__.c.created_at)
        self.written = 0
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-write")
        self.queued: deque[Future] = deque()  # jobs handed to the writing thread, oldest first

    def add(
        self, content: dict[str, Any], meta: dict[str, Any], content_hash: str, line: int
    ) -> None:
        """One converted row, read at ``line`` of the file (the item's provenance)."""
        if self.now is None:
            self.now = self.timestamp(utcnow())
        snapshot = self._snapshot(content, meta)
        values = [snapshot[name] for name in SNAPSHOT]
        for at in _JSON_AT:
            values[at] = bulk.json_text(values[at])
        now = self.now
        submitted_at = now if snapshot["status"] == "submitted" else None
        made = bulk.json_text(imported(self.job_id, self.filename, line))
        self.items.append((*values, made, *self.fixed, content_hash, 1, now, now, submitted_at, 0))
        self.revisions.append((bulk.json_text(snapshot), content_hash))
        if len(self.items) >= self.batch:
            self.flush()

    def finish(self) -> None:
        """Wait for everything handed to the writing thread (an error is raised here)."""
        while self.queued:
            self.queued.popleft().result()

    def close(self) -> None:
        """Let the jobs in flight end before the caller touches the session (even on error)."""
        wait(self.queued)
        self.queued.clear()
        self.pool.shutdown(wait=True)

    def flush(self, then: Callable[[], None] | None = None) -> None:
        """Hand the rows added so far to the writing thread, behind what it was given before;
        ``then`` runs there once they are written, as the batch's commit does. The caller goes
        on reading and converting the next rows meanwhile: waiting would leave the database
        idle while they are converted."""
        if self.items:
            batch = (self.items, self.revisions, self.now)
            self.items, self.revisions, self.now = [], [], None
            while len(self.queued) >= QUEUED:  # memory stays bounded
                self.queued.popleft().result()
            self._hand(partial(self._write, *batch))
        if then is not None:
            self._hand(then)

    def _hand(self, job: Callable[[], None]) -> None:
        """Queue ``job`` on the writing thread, to run once the job before it has succeeded
        (one thread runs them in order)."""
        before = self.queued[-1] if self.queued else None
        self.queued.append(self.pool.submit(_after, before, job))

    def _write(self, items: list[tuple], revisions, now) -> None:
        if self.copy:
            ids = bulk.reserve_ids(self.session, Item.__table__, len(items))
            rows = ((item_id, *item) for item_id, item in zip(ids, items, strict=True))
            bulk.copy_rows(self.session, Item.__table__, ("id", *ITEM_COLUMNS), rows)
        else:
            ids = bulk.insert_rows(self.session, Item.__table__, ITEM_COLUMNS, items)
        revision_rows = [
            (item_id, 1, snapshot, content_hash, self.actor_id, now)
            for item_id, (snapshot, content_hash) in zip(ids, revisions, strict=True)
        ]
        table = ItemRevision.__table__
        if self.copy:
            bulk.copy_rows(self.session, table, REVISION_COLUMNS, revision_rows)
        else:
            bulk.insert_rows(self.session, table, REVISION_COLUMNS, revision_rows)
        self.written += len(items)

    def _snapshot(self, content: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        """The item's fields as its first revision records them (``SNAPSHOT``)."""
        # The reader has set the language (the file's, or zh for Chinese text).
        snapshot = {name: content[name] for name in CONTENT_FIELDS}
        snapshot["domain"] = meta.get("domain")
        snapshot["difficulty"] = meta.get("difficulty")
        snapshot["tags"] = meta.get("tags") or []
        snapshot["status"] = "draft" if meta.get("needs_output") else self.status
        return snapshot


def _after(before: Future | None, job: Callable[[], None]) -> None:
    """``job``, once the job ``before`` it has ended without an error (its error, if any, is
    raised again here, and so reaches whoever waits for this job)."""
    if before is not None:
        before.result()
    job()
