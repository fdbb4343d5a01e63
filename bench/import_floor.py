"""The floor under an import's rows phase: how fast the database takes exactly the rows an import
of a file writes (per row, one item and its first revision: the same columns and values, into
tables with the same indexes, checks and foreign keys), by the cheapest means it offers from
Python, reading and parsing the file included.

- SQLite: per batch, the items and then the revisions by multi-row INSERTs (``VALUES (...),
  (...), ...``, 500 rows a statement: a fifth cheaper than an ``executemany`` of one-row
  INSERTs, which ``sqlite_insert="executemany"`` measures instead) in one transaction (``BEGIN
  IMMEDIATE`` ... ``COMMIT``), on a connection with the app's pragmas (WAL, foreign keys,
  ``synchronous=NORMAL``); the items' ids from ``last_insert_rowid()``.
- PostgreSQL: per batch, the items' ids reserved from a sequence in one call, then one ``COPY``
  of the items and one of the revisions, and a commit.

The rows go into scratch copies of ``items`` and ``item_revisions`` (``floor_items``,
``floor_item_revisions``), dropped at the end, so the database's own tables and sequences are
untouched. The values the import computes (content hash, language, revision snapshot) are
computed here too, by the cheapest means that gives the same value: the file is parsed with
orjson and the hash taken over orjson's canonical JSON (checked against the app's hash on the
first rows). Rows whose content repeats an earlier row's are left out, as the import skips them.

The rows file holds Alpaca rows (``instruction``, ``input``, ``output``), one JSON object a line,
as ``bench/corpus.py`` writes them; they are taken as valid (the import checks them, the floor
does not). The database must be migrated; without ``project_id`` the floor adds a user and a
project to own the rows (foreign keys need them) and leaves them there.

    .venv/bin/python bench/import_floor.py sqlite:////tmp/floor.db rows.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # run as a script: the project root, not this folder, comes first
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine  # noqa: E402

from app.core.cjk import has_cjk  # noqa: E402
from app.core.kinds import dump_hash, hashed_fields  # noqa: E402
from app.db import make_engine, make_session_factory  # noqa: E402
from app.models import Item, Project, User  # noqa: E402
from app.models.base import utcnow  # noqa: E402
from app.projects import service as project_service  # noqa: E402
from app.users import service as user_service  # noqa: E402

BATCH_ROWS = 5000  # the import task's default batch (a commit each)
SCRATCH = {"items": "floor_items", "item_revisions": "floor_item_revisions"}
ITEM_COLUMNS = (
    "kind", "instruction", "input", "output", "demos", "constraints", "rules",
    "state_constraints", "language", "project_id", "status", "origin", "provenance", "author_id",
    "guideline_version", "content_hash", "version", "created_at", "updated_at", "submitted_at",
    "review_priority", "domain", "difficulty", "tags",
)  # fmt: skip
REVISION_COLUMNS = ("item_id", "version", "snapshot", "content_hash", "editor_id", "created_at")
CHECKED_HASHES = 1000  # rows whose floor hash is compared with the app's before timing
ROWS_PER_INSERT = 500  # rows in one multi-row INSERT on SQLite


def measure_floor(
    url: str,
    path: Path,
    *,
    batch_rows: int = BATCH_ROWS,
    project_id: int | None = None,
    sqlite_insert: str = "values",
) -> dict[str, Any]:
    """Write the file's rows into scratch copies of the import's tables, a committed batch at a
    time, and say how long it took: ``seconds`` in all, and its parts (``parse_s``: reading and
    parsing, ``build_s``: the rows' values, ``write_s``: the database's inserts and commits)."""
    engine = make_engine(url)
    try:
        owner = _owner(engine, project_id)
        _check_hash(path)
        postgresql = engine.dialect.name == "postgresql"
        raw = engine.raw_connection()
        try:
            conn = raw.driver_connection
            _create_scratch(conn, postgresql)
            server = conn.info.backend_pid if postgresql else None
            try:
                client_cpu, server_cpu = time.process_time(), cpu_seconds(server)
                if postgresql:
                    timed = _write_postgresql(conn, path, owner, batch_rows)
                else:
                    timed = _write_sqlite(conn, engine, path, owner, batch_rows, sqlite_insert)
                timed["client_cpu_s"] = time.process_time() - client_cpu
                if server_cpu is not None:
                    timed["server_cpu_s"] = cpu_seconds(server) - server_cpu
            finally:
                _drop_scratch(conn, postgresql)
        finally:
            raw.close()
    finally:
        engine.dispose()
    seconds = timed["parse_s"] + timed["build_s"] + timed["write_s"]
    cpu = {
        name: round(timed[name], 3) for name in ("client_cpu_s", "server_cpu_s") if name in timed
    }
    return {
        "database": engine.dialect.name,
        "rows": timed["rows"],
        "written": timed["written"],
        "batch_rows": batch_rows,
        "means": "COPY" if postgresql else f"INSERT ({sqlite_insert})",
        "seconds": round(seconds, 3),
        "items_per_s": round(timed["written"] / seconds),
        **{name: round(timed[name], 3) for name in ("parse_s", "build_s", "write_s")},
        **cpu,
    }


def cpu_seconds(pid: int | None) -> float | None:
    """The CPU time a local process has used (a PostgreSQL backend's, read from /proc), or
    None. On a shared machine wall time varies with the neighbours' load; CPU time less so."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# The rows, as the import writes them (default options: drafts, detected language)
# ---------------------------------------------------------------------------------------------


class _Rows:
    """Turns parsed Alpaca rows into item tuples (``ITEM_COLUMNS``) and revision snapshots."""

    def __init__(self, owner: dict[str, Any], json_text) -> None:
        self.owner = owner
        self.json_text = json_text  # a Python value as the column's driver takes JSON
        self.empty = json_text([])
        self.seen: set[str] = set()
        self.line = 0  # the file's line of the row: the item's provenance records it

    def build(self, batch: list[dict[str, Any]], now) -> tuple[list[tuple], list[str], list[str]]:
        """The batch's new items, their snapshots and hashes (repeated content left out)."""
        items, snapshots, hashes = [], [], []
        empty, owner = self.empty, self.owner
        for data in batch:
            self.line += 1
            instruction, given, output = data["instruction"], data.get("input", ""), data["output"]
            content = {
                "kind": "task", "instruction": instruction, "input": given, "output": output,
                "demos": [], "constraints": [], "rules": [], "state_constraints": True,
                "language": "en",
            }  # fmt: skip
            digest = hashlib.sha256(
                orjson.dumps(hashed_fields(content), option=orjson.OPT_SORT_KEYS)
            ).hexdigest()
            if digest in self.seen:
                continue
            self.seen.add(digest)
            language = "zh" if has_cjk(f"{instruction}\n{given}\n{output}") else "en"
            content["language"] = language
            items.append(
                (
                    "task", instruction, given, output, empty, empty, empty, True, language,
                    owner["project_id"], "draft", "imported",
                    self.json_text({**owner["provenance"], "line": self.line}), owner["author_id"],
                    owner["guideline_version"], digest, 1, now, now, None, 0, None, None, empty,
                )
            )  # fmt: skip
            snapshots.append(
                self.json_text(
                    {**content, "domain": None, "difficulty": None, "tags": [], "status": "draft"}
                )
            )
            hashes.append(digest)
        return items, snapshots, hashes


def _batches(path: Path, size: int, clock: dict[str, float]) -> Iterator[list[dict[str, Any]]]:
    """The file's rows, parsed, ``size`` at a time (the parsing's time added to ``clock``)."""
    with path.open("rb") as f:
        while True:
            t0 = time.perf_counter()
            batch = [orjson.loads(line) for line in islice(f, size)]
            clock["parse_s"] += time.perf_counter() - t0
            if not batch:
                return
            yield batch


def _check_hash(path: Path) -> None:
    """The floor's hash is the app's on the file's first rows (it would not be a floor else)."""
    with path.open("rb") as f:
        for line in islice(f, CHECKED_HASHES):
            data = orjson.loads(line)
            content = {
                "kind": "task", "instruction": data["instruction"],
                "input": data.get("input", ""), "output": data["output"], "demos": [],
                "constraints": [], "rules": [], "state_constraints": True, "language": "en",
            }  # fmt: skip
            ours = hashlib.sha256(
                orjson.dumps(hashed_fields(content), option=orjson.OPT_SORT_KEYS)
            ).hexdigest()
            if ours != dump_hash(content):
                raise RuntimeError(f"the floor's content hash differs from the app's: {data}")


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _write_sqlite(
    conn, engine: Engine, path: Path, owner, batch_rows: int, how: str
) -> dict[str, Any]:
    created_at = Item.__table__.c.created_at.type
    timestamp = created_at.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    rows = _Rows(owner, lambda value: orjson.dumps(value).decode())
    clock = {"parse_s": 0.0, "build_s": 0.0, "write_s": 0.0}
    count = written = 0
    for batch in _batches(path, batch_rows, clock):
        t0 = time.perf_counter()
        now = timestamp(utcnow())
        items, snapshots, hashes = rows.build(batch, now)
        t1 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        _insert(conn, "floor_items", ITEM_COLUMNS, items, how)
        # Under the write lock each new row takes the next rowid: the batch's ids run up to here.
        last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        ids = range(last - len(items) + 1, last + 1)
        author = owner["author_id"]
        revisions = [
            (item_id, 1, snapshot, digest, author, now)
            for item_id, snapshot, digest in zip(ids, snapshots, hashes, strict=True)
        ]
        _insert(conn, "floor_item_revisions", REVISION_COLUMNS, revisions, how)
        conn.execute("COMMIT")
        t2 = time.perf_counter()
        clock["build_s"] += t1 - t0
        clock["write_s"] += t2 - t1
        count += len(batch)
        written += len(items)
    return {**clock, "rows": count, "written": written}


def _insert(conn, table: str, columns: tuple[str, ...], rows: list[tuple], how: str) -> None:
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    one = f"({', '.join('?' for _ in columns)})"
    if how == "executemany":
        conn.executemany(head + one, rows)
        return
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        conn.execute(head + ", ".join([one] * len(chunk)), list(chain.from_iterable(chunk)))


def _write_postgresql(conn, path: Path, owner, batch_rows: int) -> dict[str, Any]:
    rows = _Rows(owner, lambda value: orjson.dumps(value).decode())
    items_copy = f"COPY floor_items (id, {', '.join(ITEM_COLUMNS)}) FROM STDIN"
    revisions_copy = f"COPY floor_item_revisions ({', '.join(REVISION_COLUMNS)}) FROM STDIN"
    clock = {"parse_s": 0.0, "build_s": 0.0, "write_s": 0.0}
    count = written = 0
    with conn.cursor() as cursor:
        for batch in _batches(path, batch_rows, clock):
            t0 = time.perf_counter()
            now = utcnow()
            items, snapshots, hashes = rows.build(batch, now)
            t1 = time.perf_counter()
            cursor.execute(
                "SELECT nextval('floor_items_id_seq') FROM generate_series(1, %s)", (len(items),)
            )
            ids = [row[0] for row in cursor.fetchall()]
            with cursor.copy(items_copy) as copy:
                for item_id, item in zip(ids, items, strict=True):
                    copy.write_row((item_id, *item))
            with cursor.copy(revisions_copy) as copy:
                for item_id, snapshot, digest in zip(ids, snapshots, hashes, strict=True):
                    copy.write_row((item_id, 1, snapshot, digest, owner["author_id"], now))
            conn.commit()
            t2 = time.perf_counter()
            clock["build_s"] += t1 - t0
            clock["write_s"] += t2 - t1
            count += len(batch)
            written += len(items)
    return {**clock, "rows": count, "written": written}


# ---------------------------------------------------------------------------------------------
# Scratch tables and their owner
# ---------------------------------------------------------------------------------------------


def _owner(engine: Engine, project_id: int | None) -> dict[str, Any]:
    """Who the rows belong to: the given project and its creator, or a new user and project."""
    with make_session_factory(engine)() as session:
        if project_id is None:
            user = user_service.create_user(
                session=session,
                email=f"floor-{time.time_ns()}@example.com",
                password="floor-password-1",
                role="admin",
                actor=None,
            )
            project = project_service.create_project(
                session=session,
                data=project_service.ProjectInput(name=f"Import floor {time.time_ns()}"),
                actor=user,
            )
            session.commit()
        else:
            project = session.get(Project, project_id)
            user = session.get(User, project.created_by)
        return {
            "project_id": project.id,
            "author_id": user.id,
            "guideline_version": project.guideline_version,
            "provenance": {"import_id": 0, "file": project.name},
        }


_TABLE_NAME = re.compile(r'(?<![\w"])"?(items|item_revisions)"?(?![\w"])')
_INDEX_NAME = re.compile(r"^CREATE (UNIQUE )?INDEX (\w+)")


def _create_scratch(conn, postgresql: bool) -> None:
    """Empty copies of ``items`` and ``item_revisions``: columns, indexes, checks and foreign
    keys (the revisions' to the copy of ``items``), with sequences of their own."""
    _drop_scratch(conn, postgresql)
    if postgresql:
        for table, scratch in SCRATCH.items():
            conn.execute(f"CREATE TABLE {scratch} (LIKE {table} INCLUDING ALL)")
            conn.execute(f"CREATE SEQUENCE {scratch}_id_seq OWNED BY {scratch}.id")
            conn.execute(f"ALTER TABLE {scratch} ALTER id SET DEFAULT nextval('{scratch}_id_seq')")
            keys = conn.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f'",
                (table,),
            ).fetchall()
            for (definition,) in keys:
                definition = definition.replace("REFERENCES items(", "REFERENCES floor_items(")
                conn.execute(f"ALTER TABLE {scratch} ADD {definition}")
        conn.commit()
        return
    schema = conn.execute(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name IN ('items', 'item_revisions') "
        "AND sql IS NOT NULL ORDER BY type = 'index', tbl_name = 'item_revisions'"
    ).fetchall()
    for _kind, sql in schema:
        sql = _INDEX_NAME.sub(lambda m: f"CREATE {m.group(1) or ''}INDEX floor_{m.group(2)}", sql)
        conn.execute(_TABLE_NAME.sub(lambda m: SCRATCH[m.group(1)], sql))


def _drop_scratch(conn, postgresql: bool) -> None:
    for scratch in reversed(SCRATCH.values()):
        conn.execute(f"DROP TABLE IF EXISTS {scratch}")
    if postgresql:
        conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", help="a migrated database (SQLAlchemy URL)")
    parser.add_argument("rows", nargs="?", type=Path, help="JSON Lines of Alpaca rows")
    parser.add_argument("--batch-rows", type=int, default=BATCH_ROWS)
    parser.add_argument("--sqlite-insert", choices=("values", "executemany"), default="values")
    args = parser.parse_args()
    if args.url is None or args.rows is None:  # as `make bench` runs it
        skipped = "give a database URL and a rows file; bench/import_speed.py runs the floor"
        print(json.dumps({"benchmark": "import_floor", "skipped": skipped}))
        return
    floor = measure_floor(
        args.url, args.rows, batch_rows=args.batch_rows, sqlite_insert=args.sqlite_insert
    )
    print(json.dumps({"benchmark": "import_floor", **floor}, indent=2))


if __name__ == "__main__":
    main()
