"""The export's fast paths give the same bytes as a straightforward reference.

The export reads plain columns (not ORM rows), renders snapshots without building the content
model when they need no validation, streams rows from PostgreSQL in chunks, and encodes and
writes rows in batches. The reference (``tests/export_reference.py``) does none of that: ORM
rows from ``versions.pinned``, ``ItemContent`` for every row, one ``json.dumps`` and one write
per row, Parquet batches from ``pa.record_batch``. Every format must come out byte for byte the
same, on SQLite and PostgreSQL, for every kind, English and Chinese, constraints, demos, and
snapshots in shapes the fast path leaves to the model.
"""

from __future__ import annotations

import gc
import io
import json
import threading
import zipfile
from contextlib import nullcontext
from itertools import count, islice

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, func, literal_column, select, text
from sqlalchemy.orm import Session

from app.core.formats import writers
from app.core.kinds import ItemContent
from app.datasets import export, freezing, versions
from app.datasets.versions import VersionFilter
from app.models import DatasetVersionItem, Item, Review
from tests.dataset_factories import approved_project
from tests.dbs import PG_ADMIN_URL, require_postgres
from tests.export_reference import DRAFTS, assert_same_bytes, reference_rows

# --- fixtures --------------------------------------------------------------------------------


def approved_version(session: Session, *, drafts=DRAFTS, eval_fraction: float = 0.3):
    project, admin, _items = approved_project(
        session, drafts=drafts, name=f"Export paths {id(drafts)} {eval_fraction}"
    )
    return freezing.create_version(
        session=session,
        project=project,
        name="paths",
        f=VersionFilter(),
        actor=admin,
        eval_fraction=eval_fraction,
    )


def set_snapshot(session: Session, revision_id: int, snapshot_json: str) -> None:
    """Store a snapshot's JSON text as it is (a shape no service writes)."""
    value = "CAST(:doc AS jsonb)" if session.get_bind().dialect.name == "postgresql" else ":doc"
    session.execute(
        text(f"UPDATE item_revisions SET snapshot = {value} WHERE id = :id"),
        {"doc": snapshot_json, "id": revision_id},
    )
    session.expire_all()


def pinned_revisions(session: Session, version_id: int) -> dict[int, tuple[int, dict]]:
    """item id -> (revision id, snapshot) of a version."""
    return {
        link.item_id: (link.revision_id, revision.snapshot)
        for link, revision in versions.pinned(session, version_id)
    }


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(writers, "WRITE_BATCH_ROWS", 2)
    monkeypatch.setattr(writers, "PARQUET_BATCH_ROWS", 3)
    monkeypatch.setattr(versions, "PINNED_FETCH_ROWS", 2)


# --- tests -----------------------------------------------------------------------------------


def test_every_format_is_byte_identical_to_the_reference(db_session, tmp_path):
    version = approved_version(db_session)
    assert version.eval_count > 0 and version.train_count > 0
    assert_same_bytes(db_session, version.id, tmp_path)


def test_byte_identical_across_batch_boundaries(db_session, tmp_path, small_batches):
    version = approved_version(db_session)
    assert_same_bytes(db_session, version.id, tmp_path)


def test_the_zip_holds_the_same_files(db_session, tmp_path):
    version = approved_version(db_session)
    for fmt in ("openai_jsonl", "parquet"):
        files = export.write_folder(db_session, version.id, fmt, tmp_path / fmt)
        data = b"".join(export.stream_zip(lambda: nullcontext(db_session), version.id, fmt))
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert {p.name: p.read_bytes() for p in files} == {
                name: archive.read(name) for name in archive.namelist()
            }


def test_an_empty_split_is_byte_identical(db_session, tmp_path):
    version = approved_version(db_session, drafts=DRAFTS[:3], eval_fraction=0.0)
    assert version.eval_count == 0
    assert_same_bytes(db_session, version.id, tmp_path)


def test_snapshots_from_the_services_take_the_fast_path(db_session):
    version = approved_version(db_session)
    snapshots = list(versions.pinned_snapshots(db_session, version.id))
    assert len(snapshots) == len(DRAFTS)
    for _item_id, _revision, snap in snapshots:
        view = export._plain_content(snap)
        if snap.get("system") or snap.get("turns"):  # later fields: the model's path
            assert view is None, snap
            continue
        assert view is not None, snap
        assert view.model_dump() == ItemContent.from_row(snap).model_dump(mode="json")


def test_pinned_snapshots_match_pinned(db_session):
    version = approved_version(db_session)
    for split in (None, "train", "eval"):
        expected = [
            (link.item_id, link.revision, revision.snapshot)
            for link, revision in versions.pinned(db_session, version.id, split)
        ]
        assert list(versions.pinned_snapshots(db_session, version.id, split)) == expected


def test_stopping_a_stream_early_leaves_the_session_usable(db_session, small_batches):
    version = approved_version(db_session)
    rows = versions.pinned_snapshots(db_session, version.id)
    assert len(list(islice(rows, 3))) == 3
    rows.close()
    count = db_session.scalar(
        select(func.count()).where(DatasetVersionItem.version_id == version.id)
    )
    assert count == len(DRAFTS)
    assert len(list(versions.pinned_snapshots(db_session, version.id))) == len(DRAFTS)


def test_a_stream_stopped_mid_query_does_not_abort_the_transaction():
    # Rows the server is still sending when the reader stops (far more than socket buffers
    # hold): psycopg alone would cancel the query, and the transaction with it. Only
    # PostgreSQL streams (SQLite reads through a plain cursor), so this runs there alone.
    require_postgres()
    engine = create_engine(PG_ADMIN_URL)
    try:
        with Session(engine) as session:
            big = select(literal_column("repeat('x', 2000)")).select_from(
                text("generate_series(1, 20000)")
            )
            rows = versions._psycopg_stream(session.connection(), big)
            assert len(list(islice(rows, 5))) == 5
            rows.close()
            assert session.scalar(select(literal_column("1"))) == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("fmt", ["alpaca_jsonl", "parquet"])
def test_a_failing_write_hands_the_connection_back(db_session, tmp_path, monkeypatch, fmt):
    # The writer fails mid-split while its frames (kept by the traceback) still reference the
    # rows: the stream must be closed by then, or the session's next statement would wait for
    # the connection that psycopg holds while streaming.
    version = approved_version(db_session)
    calls, format_row = count(), writers.format_row

    def failing(fmt: str, row):
        if next(calls) == 2:
            raise OSError("No space left on device")
        return format_row(fmt, row)

    monkeypatch.setattr(writers, "format_row", failing)
    with pytest.raises(OSError) as failure:
        export.write_folder(db_session, version.id, fmt, tmp_path)
    driver = db_session.connection().connection.driver_connection
    held = getattr(driver, "lock", threading.Lock()).locked()
    if held:  # free the frames, so the teardown's rollback does not wait forever
        failure.value.__traceback__ = None
        del failure
        gc.collect()
    assert not held, "the export left the connection to a suspended stream"
    assert db_session.scalar(select(literal_column("1"))) == 1


UNUSUAL = {
    # key orders, missing optional keys, defaults, coercions, and numbers only the model
    # turns into what the export writes
    "demo keys reversed": lambda s: (
        {
            **s,
            "demos": [{"output": d["output"], "input": d["input"]} for d in s["demos"]],
        }
        if s["kind"] == "example"
        else s
    ),
    "optional keys missing": lambda s: {
        k: v
        for k, v in s.items()
        if k not in ("input", "output", "state_constraints", "language", "rules", "demos")
        or (k in ("input", "demos") and s["kind"] == "example")
    },
    "empty params missing": lambda s: (
        {
            **s,
            "constraints": [c if c.get("params") else {"id": c["id"]} for c in s["constraints"]],
        }
        if s["kind"] == "constraint"
        else s
    ),
    "state_constraints as a number": lambda s: {**s, "state_constraints": 1},
    "odd metadata": lambda s: {**s, "domain": 7, "tags": None, "difficulty": "3", "extra": [1]},
}


@pytest.mark.parametrize("shape", sorted(UNUSUAL))
def test_unusual_snapshots_are_byte_identical(db_session, tmp_path, shape):
    version = approved_version(db_session, drafts=DRAFTS[:9])
    for revision_id, snap in pinned_revisions(db_session, version.id).values():
        set_snapshot(db_session, revision_id, json.dumps(UNUSUAL[shape](snap), ensure_ascii=False))
    assert_same_bytes(db_session, version.id, tmp_path)


def test_a_number_too_large_for_a_float_is_byte_identical(db_session, tmp_path):
    # 1e400 written out (PostgreSQL prints numbers without an exponent) parses as inf, which
    # the model's JSON dump writes as null; the fast path must not write it as Infinity.
    # (Unstated requirements: rendering one would reject the number.)
    huge = "1" + "0" * 400 + ".5"
    version = approved_version(db_session, drafts=DRAFTS[4:6])
    for revision_id, snap in pinned_revisions(db_session, version.id).values():
        snap = {**snap, "state_constraints": False}
        doc = json.dumps(snap, ensure_ascii=False).replace(
            '"num_words": 40', f'"num_words": {huge}'
        )
        assert huge in doc
        set_snapshot(db_session, revision_id, doc)
    _, snap = next(iter(pinned_revisions(db_session, version.id).values()))
    assert export._plain_content(snap) is None
    assert_same_bytes(db_session, version.id, tmp_path)


@pytest.mark.parametrize(
    "change",
    [
        {"instruction": " "},
        {"language": ""},
        {"kind": "essay"},
        {"kind": ["task"]},
        {"input": None},
        {"demos": [{"input": "a", "output": "b"}]},  # a task with demonstrations
    ],
    ids=repr,
)
def test_an_invalid_snapshot_fails_as_the_model_fails(db_session, tmp_path, change):
    version = approved_version(db_session, drafts=DRAFTS[:2])
    revision_id, snap = next(iter(pinned_revisions(db_session, version.id).values()))
    set_snapshot(db_session, revision_id, json.dumps({**snap, **change}, ensure_ascii=False))
    with pytest.raises(ValidationError):
        list(reference_rows(db_session, version.id, "train")) + list(
            reference_rows(db_session, version.id, "eval")
        )
    with pytest.raises(ValidationError):
        for fmt in writers.FORMATS:
            export.write_folder(db_session, version.id, fmt, tmp_path / fmt)


def test_the_card_counts_authors_reviewers_and_guideline_versions(db_session):
    version = approved_version(db_session, drafts=DRAFTS[:4])
    ids = [link.item_id for link, _ in versions.pinned(db_session, version.id)]
    pinned_items = db_session.scalars(select(Item).where(Item.id.in_(ids))).all()
    authors = len({i.author_id for i in pinned_items if i.author_id is not None})
    reviewers = len(
        set(db_session.scalars(select(Review.reviewer_id).where(Review.item_id.in_(ids))))
    )
    guidelines = ", ".join(str(v) for v in sorted({i.guideline_version for i in pinned_items}))
    card = export.dataset_card(db_session, version, "alpaca_json")
    assert (
        f"- Provenance: {authors} authors, {reviewers} reviewers, guideline versions "
        f"{guidelines}\n" in card
    )
