"""The import's fast paths write the same rows as a plain reading of the rules.

The rows phase writes driver-ready tuples (no ORM objects): by COPY with reserved ids on
PostgreSQL, by executemany with ids read back from the rowids on SQLite, on a second thread while
the next batch is converted; an all-or-nothing import reads back the rows its check pass kept
instead of converting them again. The reference here does none of that: each row converted with
``reader.convert_row`` and the item's fields spelt out one by one, as the writer once built its
ORM rows. Items and revisions must match it on both databases, and the two databases must match
each other.
"""

from __future__ import annotations

import io
import json
import math
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app import migrate
from app.core.cjk import has_cjk
from app.core.formats import writers
from app.core.formats.metadata import build_metadata
from app.core.kinds import CONTENT_FIELDS, ItemContent, content_hash, dump_hash
from app.db import make_engine
from app.imports import reader, writer
from app.imports import service as imports
from app.imports.reader import ImportOptions
from app.imports.rows import CheckedRows
from app.items.service import snapshot
from app.models import ImportJob, Item, ItemRevision, User
from tests.dbs import fresh_database
from tests.factories import make_user
from tests.import_factories import import_file
from tests.review_factories import make_project

# --- files -----------------------------------------------------------------------------------

ALPACA = [
    {"instruction": "Say hello.", "input": "", "output": "Hello."},
    {"instruction": "把这句话翻译成英文。", "input": "你好", "output": "Hello."},
    {"instruction": 'Quote this: "a\\b"\tand\nmore', "input": "x\u2028y", "output": "ok\u0007"},
    {"instruction": "Name a fruit 🙂.", "input": "", "output": ""},  # needs an output: a draft
    {"instruction": "Say hello.", "input": "", "output": "Hello."},  # a repeat: skipped
    {"instruction": "", "input": "", "output": "no instruction"},  # a problem
    {"instruction": "Count to three.", "input": "slowly", "output": "one, two, three"},
]


def studio_rows() -> list[dict[str, Any]]:
    """Rows of our own export: every kind, with domain, tags, difficulty and language."""
    example = ItemContent(
        kind="example",
        instruction="Capital cities.",
        input="Kenya",
        output="Nairobi",
        demos=[{"input": "France", "output": "Paris"}, {"input": "Japan", "output": "Tokyo"}],
        language="en",
    )
    constraint = ItemContent(
        kind="constraint",
        instruction="Write a poem about tea.",
        output="Leaves unfurl slowly",
        constraints=[
            {"id": "punctuation:no_comma", "params": {}},
            {
                "id": "length_constraints:number_words",
                "params": {"relation": "at least", "num_words": 50},
            },
        ],
        rules=["Mention the colour green."],
        state_constraints=False,
    )
    task = ItemContent(kind="task", instruction="总结下面的段落。", output="好", language="zh")
    metas = [
        {"item_id": 7, "revision": 2, "domain": "geography", "tags": ["a", "b"], "difficulty": 2},
        # An id past 64 bits: the kept rows fall back to the standard library for this one.
        {"item_id": 2**70, "revision": 1, "domain": None, "tags": [], "difficulty": 5},
        {"item_id": 9, "revision": 1, "domain": "summaries", "tags": ["中文"], "difficulty": None},
    ]
    return [
        writers.format_row(
            "alpaca_jsonl",
            {"prompt": c.instruction, "response": c.output, "metadata": build_metadata(c, m)},
        )
        for c, m in zip((example, constraint, task), metas, strict=True)
    ]


IFEVAL = [
    {
        "key": 1001,
        "prompt": "Write a poem about tea. Do not use any commas.",
        "instruction_id_list": ["punctuation:no_comma", "length_constraints:number_words"],
        "kwargs": [{}, {"relation": "at least", "num_words": 50}],
    }
]
FILES = {"alpaca.jsonl": ALPACA, "studio.jsonl": studio_rows(), "ifeval.jsonl": IFEVAL}


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()


# --- the reference ---------------------------------------------------------------------------


def expected_items(job: ImportJob, options: ImportOptions) -> list[dict[str, Any]]:
    """Each new item's fields as the import's rules give them, in file order."""
    seen: set[str] = set()
    expected = []
    with Path(job.path).open("rb") as f:
        for record in reader.iter_records(f, job.container):
            row = reader.convert_row(record, options, job.schema)
            if row.draft is None:
                continue
            content, meta = row.draft["content"], row.draft["meta"]
            digest = dump_hash(content)
            if digest in seen:
                continue
            seen.add(digest)
            text = f"{content['instruction']}\n{content['input']}\n{content['output']}"
            fields = {name: content[name] for name in CONTENT_FIELDS}
            fields["language"] = meta.get("language") or ("zh" if has_cjk(text) else "en")
            fields["domain"] = meta.get("domain")
            fields["difficulty"] = meta.get("difficulty")
            fields["tags"] = meta.get("tags") or []
            fields["status"] = "draft" if meta.get("needs_output") else options.status
            expected.append({**fields, "content_hash": digest})
    return expected


def written(session: Session, job: ImportJob, actor: User) -> list[dict[str, Any]]:
    """The job's items as the ORM reads them back, each checked against its revision."""
    items = session.scalars(select(Item).where(writer.of_import(job)).order_by(Item.id)).all()
    rows = []
    for item in items:
        revisions = session.scalars(select(ItemRevision).where(ItemRevision.item_id == item.id))
        (revision,) = revisions.all()
        assert revision.snapshot == snapshot(item)
        # The stored hash is the hash of the stored content, language included.
        assert item.content_hash == content_hash(ItemContent.from_row(item))
        assert (revision.version, revision.content_hash) == (1, item.content_hash)
        assert (revision.editor_id, item.author_id) == (actor.id, actor.id)
        assert revision.created_at == item.created_at == item.updated_at
        assert item.created_at.utcoffset() is not None
        assert item.submitted_at == (item.created_at if item.status == "submitted" else None)
        assert (item.version, item.review_priority, item.project_id) == (1, 0, job.project_id)
        assert item.guideline_version == 1
        rows.append({**snapshot(item), "content_hash": item.content_hash})
    return rows


def run_import(session, folder: Path, project, actor, name, payload, *, commit=None, **options):
    """An import in batches of three rows (several batches from a few rows)."""
    run = {"commit": commit, "batch_rows": 3}
    return import_file(session, folder, project, actor, name, payload, run=run, **options)


@pytest.fixture
def setup(db_session):
    admin = make_user(db_session, role="admin")
    return make_project(db_session, admin, name="Import paths"), admin


@pytest.fixture
def tiny_batches(monkeypatch):
    """Batches of two rows: many batches, each written while the next is converted."""
    monkeypatch.setattr(writer, "BATCH", 2)
    monkeypatch.setattr(writer, "SQLITE_BATCH", 2)


# --- tests -----------------------------------------------------------------------------------


class TestSameRowsAsTheRules:
    @pytest.mark.parametrize("name", FILES)
    @pytest.mark.parametrize("mode", ["all_or_nothing", "valid_rows"])
    def test_items_and_revisions(self, db_session, tmp_path, setup, tiny_batches, name, mode):
        project, admin = setup
        rows = FILES[name]
        if mode == "all_or_nothing":
            rows = [row for row in rows if row.get("instruction") != ""]
        options = {"mode": mode, "status": "submitted"}
        job = run_import(db_session, tmp_path, project, admin, name, jsonl(rows), **options)
        assert job.state == "done"
        expected = expected_items(job, ImportOptions(**options))
        assert written(db_session, job, admin) == expected
        assert job.created_items == len(expected)

    def test_committed_batches(self, db_session, tmp_path, setup, tiny_batches):
        """A commit every three rows, as the import task runs it: the same rows."""
        project, admin = setup
        tallies = []

        def commit(tally, phase, done, total):
            tallies.append((done, total, tally["created"]))
            db_session.commit()

        rows = [row for row in ALPACA if row["instruction"]]
        job = run_import(
            db_session, tmp_path, project, admin, "a.jsonl", jsonl(rows), commit=commit
        )
        assert written(db_session, job, admin) == expected_items(job, ImportOptions())
        # The check pass counted the rows: the write pass knows the total exactly.
        assert tallies == [(3, len(rows), 3), (6, len(rows), 5)]  # the fifth row repeats

    def test_a_batch_of_repeats_is_committed_too(self, db_session, tmp_path, setup):
        """A batch that writes nothing (every row already in the project) still commits its
        tally, after the batches before it."""
        project, admin = setup
        tallies = []

        def commit(tally, phase, done, total):
            tallies.append((done, tally["created"], tally["skipped"]))
            db_session.commit()

        rows = [{"instruction": f"Row {i % 3}.", "input": "", "output": "x"} for i in range(7)]
        job = run_import(
            db_session, tmp_path, project, admin, "r.jsonl", jsonl(rows), commit=commit
        )
        assert tallies == [(3, 3, 0), (6, 3, 3)]
        assert (job.created_items, job.skipped_duplicates) == (3, 4)

    def test_ids_after_deleted_items(self, db_session, tmp_path, setup, tiny_batches):
        """New ids follow whatever the table holds, gaps and a deleted last row included:
        each revision belongs to the item with its content."""
        project, admin = setup
        first = [{"instruction": f"First {i}.", "input": "", "output": "x"} for i in range(6)]
        run_import(db_session, tmp_path, project, admin, "1.jsonl", jsonl(first))
        ids = sorted(db_session.scalars(select(Item.id).where(Item.project_id == project.id)))
        db_session.execute(delete(Item).where(Item.id.in_([ids[1], ids[-1]])))
        db_session.expire_all()
        later = [{"instruction": f"Later {i}.", "input": "", "output": "y"} for i in range(5)]
        job = run_import(db_session, tmp_path, project, admin, "2.jsonl", jsonl(later))
        assert written(db_session, job, admin) == expected_items(job, ImportOptions())
        instructions = db_session.scalars(
            select(Item.instruction).where(Item.project_id == project.id).order_by(Item.id)
        ).all()
        assert instructions == [f"First {i}." for i in (0, 2, 3, 4)] + [
            f"Later {i}." for i in range(5)
        ]


def test_sqlite_and_postgresql_write_the_same_rows(tmp_path):
    """The same files on a fresh SQLite database and a fresh PostgreSQL one."""
    results = {}
    for backend in ("sqlite", "postgresql"):
        with fresh_database(backend, tmp_path) as url:
            migrate.upgrade(url)
            engine = make_engine(url)
            try:
                with Session(engine, expire_on_commit=False) as session:
                    admin = make_user(session, role="admin")
                    project = make_project(session, admin, name="Both databases")
                    results[backend] = [
                        written(
                            session,
                            run_import(session, tmp_path / backend, project, admin, name,
                                       jsonl(rows), mode="valid_rows", status="submitted"),
                            admin,
                        )
                        for name, rows in FILES.items()
                    ]  # fmt: skip
                    session.rollback()
            finally:
                engine.dispose()
    assert results["sqlite"] == results["postgresql"]
    assert sum(map(len, results["sqlite"])) == 5 + 3 + 1


class TestFailures:
    """Writes that fail on the second thread: here the author does not exist."""

    GHOST = User(id=987_654_321, email="ghost@example.org", role="admin")

    @staticmethod
    def upload(session, folder: Path, project, admin, rows: list[dict]) -> ImportJob:
        return imports.store_upload(
            session=session,
            project=project,
            filename="a.jsonl",
            stream=io.BytesIO(jsonl(rows)),
            folder=folder,
            actor=admin,
        )

    def test_a_failed_batch_is_raised_and_its_thread_ends(self, db_session, tmp_path, setup):
        """A failed write fails the import, with the database's own error."""
        project, admin = setup
        rows = [{"instruction": "Say hi.", "input": "", "output": "Hi."}]
        job = self.upload(db_session, tmp_path, project, admin, rows)
        with pytest.raises((sqlite3.IntegrityError, psycopg.errors.IntegrityError)):
            imports.run(
                session=db_session, job_id=job.id, actor=self.GHOST, options=ImportOptions()
            )
        assert not [t for t in threading.enumerate() if t.name.startswith("import-write")]

    def test_nothing_queued_behind_a_failed_batch_runs(
        self, db_session, tmp_path, setup, tiny_batches
    ):
        """Commits and later batches wait on the writing thread behind the batch before them:
        once one fails, none of them runs (no commit of a batch that is not all there)."""
        project, admin = setup
        commits = []
        rows = [{"instruction": f"Row {i}.", "input": "", "output": "x"} for i in range(9)]
        job = self.upload(db_session, tmp_path, project, admin, rows)
        with pytest.raises((sqlite3.IntegrityError, psycopg.errors.IntegrityError)):
            imports.run(
                session=db_session,
                job_id=job.id,
                actor=self.GHOST,
                options=ImportOptions(),
                commit=lambda *args: commits.append(args),
                batch_rows=3,
            )
        assert commits == []
        assert not [t for t in threading.enumerate() if t.name.startswith("import-write")]

    def test_rows_read_are_counted_for_metrics(self, db_session, tmp_path, setup):
        project, admin = setup
        before = REGISTRY.get_sample_value("studio_import_rows_total") or 0
        job = run_import(
            db_session, tmp_path, project, admin, "a.jsonl", jsonl(ALPACA), mode="valid_rows"
        )
        assert job.rows_total == len(ALPACA)
        assert REGISTRY.get_sample_value("studio_import_rows_total") == before + len(ALPACA)


class TestCheckedRows:
    def test_rows_read_back_exactly(self, tmp_path):
        drafts = [
            {"content": {"instruction": "plain", "demos": []}, "meta": {"tags": ["x"]}},
            {"content": {"params": {"ratio": 0.1, "tiny": 1e-05}}, "meta": {"id": 2**70}},
            {"content": {"text": "lone \ud800 surrogate"}, "meta": {}},
            {"content": {"value": math.inf, "nested": [{"a": [1, 2.5]}]}, "meta": {}},
        ]
        checked = CheckedRows(tmp_path)
        for draft in drafts:
            checked.add(draft)
        back = [(number, row.draft) for number, row in checked]
        checked.close()
        assert back == list(enumerate(drafts, start=1))
        assert checked.total(0) == len(drafts)

    def test_nan_is_kept(self, tmp_path):
        """orjson would write NaN as null; the row is written by the standard library instead."""
        checked = CheckedRows(tmp_path)
        checked.add({"content": {"x": math.nan}, "meta": {}})
        checked.add({"content": {"instruction": "plain"}, "meta": {"tags": ["a", math.inf]}})
        (_, first), (_, second) = list(checked)
        checked.close()
        assert math.isnan(first.draft["content"]["x"])
        assert second.draft["meta"]["tags"] == ["a", math.inf]


class TestDumpHash:
    """The import hashes each row's dump through orjson where it spells the canonical JSON
    alike: the hash must be :func:`content_hash`'s, whatever the text holds."""

    TEXTS = [
        "".join(chr(c) for c in range(0x20)) + "\x7f\x80\xa0",
        'quote " backslash \\ slash / tab \t',
        "\u2028\u2029\ufeff\uffff 🙂 把这句话翻译成英文。 é",
        "",
    ]

    @pytest.mark.parametrize("text", TEXTS)
    def test_text_of_every_kind(self, text):
        content = ItemContent(kind="task", instruction=f"x{text}", input=text, output=text)
        assert dump_hash(content.model_dump(mode="json")) == content_hash(content)

    @pytest.mark.parametrize(
        "params",
        [
            {"relation": "at least", "num_words": 50},
            {"ratio": 1e-05, "é": True, "a": None},  # floats: left to the standard library
            {"big": 2**70},  # past 64 bits: left to the standard library
            {"z": 1, "A": 2, "é": 3, "中": 4, "🙂": 5},  # keys sorted alike
        ],
    )
    def test_constraint_parameters(self, params):
        content = ItemContent(
            kind="constraint",
            instruction="Write.",
            constraints=[{"id": "c", "params": params}],
            rules=["one", "二"],
        )
        assert dump_hash(content.model_dump(mode="json")) == content_hash(content)
