"""An import's follow-up pass: search terms and near-duplicate keys for the items it created.

The import itself writes only items and their first revisions, the rows it truly needs; the
indexes follow here, a batch at a time, each batch committed with its checkpoint in a background
import. Until the pass has reached an item, search does not find it (the item list says so).

An item is indexed when it has near-duplicate keys: the pass writes both for an item in one
batch, and a save of an item the pass has not reached indexes it in full (``indexing.reindex``),
so the pass leaves out items that have keys. The batch's rows are locked first (on PostgreSQL),
so a save and the pass never index one item twice.
"""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from app import bulk
from app.core import neardup
from app.imports.reader import Progress
from app.imports.service import Commit
from app.imports.writer import of_import
from app.items.indexing import terms_of
from app.models import BackgroundTask, ImportJob, Item, NearDupKey, SearchTerm

BATCH = 5000
KEY_COLUMNS = ("item_id", "project_id", "band", "key")


def index_imported(
    *,
    session: Session,
    job: ImportJob,
    progress: Progress | None = None,
    commit: Commit | None = None,
    after: int = 0,
    done: int = 0,
    batch_size: int = BATCH,
) -> int:
    """Index the import's items after item id ``after`` (``done`` of them were indexed before
    it); with ``commit``, each batch is committed with the checkpoint to resume from. Answers
    how many items the pass went through."""
    mine = (of_import(job),)
    total = session.scalar(select(func.count()).where(*mine))
    while True:
        ids = session.scalars(
            select(Item.id)
            .where(*mine, Item.id > after)
            .order_by(Item.id)
            .limit(batch_size)
            .with_for_update()
        ).all()
        if not ids:
            return done
        # A fresh statement after the locks: it sees what a save committed meanwhile.
        rows = session.execute(
            select(
                Item.id,
                Item.instruction,
                Item.input,
                Item.output,
                Item.demos,
                Item.system,
                Item.turns,
                Item.rejected,
            ).where(Item.id.in_(ids), ~exists().where(NearDupKey.item_id == Item.id))
        ).all()
        _write_indexes(session, job.project_id, rows)
        after, done = ids[-1], done + len(ids)
        if commit:
            commit({"after": after, "done": done}, "indexing", done, total)
        elif progress:
            progress("indexing", done, total)


def _write_indexes(session: Session, project_id: int, rows) -> None:
    texts = [
        neardup.item_text(
            r.instruction,
            r.input,
            r.output,
            r.demos or [],
            system=r.system,
            turns=r.turns or [],
            rejected=r.rejected,
        )
        for r in rows
    ]
    terms = [(row.id, terms_of(text)) for row, text in zip(rows, texts, strict=True)]
    if bulk.is_postgresql(session):
        # Terms are runs of word characters or CJK bigrams: nothing to escape for COPY. Sorted,
        # the (term, item_id) B-tree takes the batch leaf by leaf instead of at random pages.
        lines = [f"{term}\t{item_id}\n" for item_id, words in terms for term in words]
        lines.sort()
        bulk.copy_text(session, SearchTerm.__table__, ("term", "item_id"), "".join(lines))
    else:
        pairs = [(term, item_id) for item_id, words in terms for term in words]
        bulk.write(session, SearchTerm.__table__, ("term", "item_id"), pairs)
    keys = [
        (row.id, project_id, band, key)
        for row, item_keys in zip(rows, neardup.text_band_keys_many(texts), strict=True)
        for band, key in enumerate(item_keys)
    ]
    # Random keys would land on random pages of the (project, band, key) index; in its order
    # they fill it page by page. The primary key (item, band) grows at its end either way.
    keys.sort(key=_band_and_key)
    bulk.write(session, NearDupKey.__table__, KEY_COLUMNS, keys)


def _band_and_key(row: tuple[int, int, int, int]) -> tuple[int, int]:
    return row[2], row[3]


def pending(session: Session, project_id: int) -> bool:
    """Whether some import of the project has items the pass has not indexed yet: its rows
    are in, its task not finished."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    ImportJob.project_id == project_id,
                    ImportJob.state == "done",
                    ImportJob.task_id == BackgroundTask.id,
                    BackgroundTask.state.in_(("queued", "running")),
                )
            )
        )
    )
