"""Writes imported rows in batches: items and their first revisions.

On PostgreSQL both go in by COPY with item ids reserved from the sequence up front; on SQLite by
one executemany INSERT each (``app.bulk``). Search terms and near-duplicate keys are left to the
follow-up pass (``app.imports.indexer``).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app import bulk
from app.core.cjk import has_cjk
from app.core.kinds import CONTENT_FIELDS
from app.items.service import META_FIELDS
from app.models import ImportJob, Item, ItemRevision, Project, User
from app.models.base import utcnow

BATCH = 2000
SNAPSHOT = (*CONTENT_FIELDS, *META_FIELDS, "status")
ITEM_COLUMNS = (
    *CONTENT_FIELDS,
    *META_FIELDS,
    "project_id",
    "status",
    "source",
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


def source_of(job: ImportJob) -> str:
    return f"import:{job.id}:{job.filename}"[:200]


class ItemWriter:
    """Collects converted rows and writes them ``BATCH`` at a time."""

    def __init__(
        self, session: Session, project: Project, job: ImportJob, status: str, actor: User
    ) -> None:
        self.session = session
        self.status = status
        self.copy = bulk.is_postgresql(session)
        self.fixed = {
            "project_id": project.id,
            "source": source_of(job),
            "author_id": actor.id,
            "guideline_version": project.guideline_version,
            "version": 1,
            "review_priority": 0,
        }
        self.actor_id = actor.id
        self.pending: list[dict[str, Any]] = []
        self.written = 0
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-copy")
        self.writing: Future | None = None

    def add(self, content: dict[str, Any], meta: dict[str, Any], content_hash: str) -> None:
        self.pending.append({"content": content, "meta": meta, "hash": content_hash})
        if len(self.pending) >= BATCH:
            self.flush()

    def discard(self) -> None:
        """Drop what is not written yet; the caller rolls back what is."""
        self.pending = []
        self.finish()

    def finish(self) -> None:
        """Wait for the batch being written (its error, if any, is raised here)."""
        if self.writing is not None:
            writing, self.writing = self.writing, None
            writing.result()

    def close(self) -> None:
        """Let a batch in flight end before the caller touches the session (even on error)."""
        if self.writing is not None:
            wait([self.writing])
            self.writing = None
        self.pool.shutdown(wait=True)

    def flush(self) -> None:
        if not self.pending:
            return
        now = utcnow()
        rows = [self._item_row(entry, now) for entry in self.pending]
        self.pending = []
        if not self.copy:
            statement = insert(Item).returning(Item.id, sort_by_parameter_order=True)
            ids = self.session.scalars(statement, rows).all()
            self._write_revisions(ids, rows, now)
            return
        # COPY leaves the client waiting while the server updates its indexes; the next batch
        # is read and converted meanwhile. One batch at a time uses the session, in order.
        self.finish()
        ids = bulk.reserve_ids(self.session, Item.__table__, len(rows))
        self.writing = self.pool.submit(self._write_batch, ids, rows, now)

    def _write_batch(self, ids: list[int], rows: list[dict], now) -> None:
        for item_id, row in zip(ids, rows, strict=True):
            row["id"] = item_id
        columns = ("id", *ITEM_COLUMNS)
        bulk.write(self.session, Item.__table__, columns, [bulk.as_row(r, columns) for r in rows])
        self._write_revisions(ids, rows, now)

    def _write_revisions(self, ids, rows: list[dict], now) -> None:
        revisions = [
            (
                item_id,
                1,
                {name: row[name] for name in SNAPSHOT},
                row["content_hash"],
                self.actor_id,
                now,
            )
            for item_id, row in zip(ids, rows, strict=True)
        ]
        bulk.write(self.session, ItemRevision.__table__, REVISION_COLUMNS, revisions)
        self.written += len(rows)

    def _item_row(self, entry: dict[str, Any], now) -> dict[str, Any]:
        content, meta = entry["content"], entry["meta"]
        status = "draft" if meta.get("needs_output") else self.status
        row = {name: content[name] for name in CONTENT_FIELDS}
        text = f"{content['instruction']}\n{content['input']}\n{content['output']}"
        # Our own exports carry the language; otherwise Chinese text is marked zh.
        row["language"] = meta.get("language") or ("zh" if has_cjk(text) else "en")
        row.update(self.fixed)
        row["status"] = status
        row["domain"] = meta.get("domain")
        row["difficulty"] = meta.get("difficulty")
        row["tags"] = meta.get("tags") or []
        row["content_hash"] = entry["hash"]
        row["created_at"] = row["updated_at"] = now
        row["submitted_at"] = now if status == "submitted" else None
        return row
