"""Search at 100k items: our term tables against each database's own full-text engine.

Prints one JSON object on stdout (progress on stderr). Design §7 asks whether the hand-written
term tables (``search_terms``, ``app.items.indexing``) should give way to each database's own
full-text engine if that meets the budgets: the first page with status counts, for words in
0.1%-20% of 100,000 items, p95 under 50 ms on both databases; the indexing pass at 2,000 items/s.

For each database (a temporary SQLite file; a fresh PostgreSQL database when a server answers):

1. imports ``bench/corpus.py``'s rows (every tenth item Chinese) through the UI's service and
   times its follow-up pass (``indexer.index_imported``: search terms, near-duplicate keys);
   spreads the items over the five statuses (one UPDATE), so that counts count something;
2. builds each engine's index over the items, timed, and measures it on disk:
   - ``ours``: the term rows alone (``terms_of``, written as the pass writes them) into an empty
     copy of ``search_terms``: the share of the pass a full-text engine would replace;
   - ``fts5`` (SQLite): an external-content FTS5 table over instruction, input and output
     (``unicode61``, no diacritic folding, ``_`` a word character as in ``\\w``; ``detail=none``:
     a search ANDs words, no positions needed), and a contentless FTS5 table of each Chinese
     item's CJK bigrams, space-joined, so that Chinese is searched as today;
   - ``trigram`` (SQLite): an external-content FTS5 table with the ``trigram`` tokenizer (it needs
     ``detail=full``): any substring of 3+ characters, but no 2-character Chinese word;
   - ``tsvector`` (PostgreSQL): a stored generated column, ``to_tsvector('simple', …)`` of the
     text without its CJK runs plus their bigrams as extra lexemes, with a GIN index;
3. times each word with each engine, every run in a new session as a request has: the first
   page newest first (51 items, loaded by the ORM) and the matches per status up to 10,000 (one
   query); ours through ``repository.page`` and ``counts_by_status``. Every engine's page and
   counts are checked against ours (``same_as_ours``).

    .venv/bin/python bench/fulltext.py                   # 100k items, both databases
    .venv/bin/python bench/fulltext.py --rows 10000      # quick run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# As in bench/datasets.py: this folder must not shadow the `datasets` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import Select, func, or_, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import bulk, migrate  # noqa: E402
from app.core import neardup  # noqa: E402
from app.core.cjk import CJK_CLASS  # noqa: E402
from app.db import begin_for_write, make_engine, make_session_factory  # noqa: E402
from app.imports import indexer  # noqa: E402
from app.imports import service as imports  # noqa: E402
from app.imports.reader import ImportOptions  # noqa: E402
from app.items import repository  # noqa: E402
from app.items.indexing import query_terms, terms_of  # noqa: E402
from app.models import Item  # noqa: E402
from app.projects import service as project_service  # noqa: E402
from app.users import service as user_service  # noqa: E402
from bench import corpus, search_words  # noqa: E402
from bench.pg import fresh_database, postgres_unavailable  # noqa: E402

BUDGET_MS = 50.0
PASS_BUDGET_ITEMS_PER_S = 2000
WARMUP = 3
PAGE = 50
CAP = repository.COUNT_CAP
TIE = 0.10
CHINESE_WORD = "数据"
# Status shares by id % 10, so that each status tab has something to count.
STATUS_BY_TENTH = "CASE id % 10 WHEN 0 THEN 'draft' WHEN 1 THEN 'draft' WHEN 2 THEN 'submitted' \
WHEN 3 THEN 'submitted' WHEN 8 THEN 'rejected' WHEN 9 THEN 'changes_requested' ELSE 'approved' END"
_CJK_RUN = re.compile(f"[{CJK_CLASS}]+")
_BIGRAM = re.compile(f"[{CJK_CLASS}]{{2}}")
_RUNS = re.compile(r"\w+")
TERMS_COPY = sa.Table("bench_terms", sa.MetaData(), sa.Column("term"), sa.Column("item_id"))
FTS5_DDL = (
    """CREATE VIRTUAL TABLE items_fts USING fts5(instruction, input, output, content='items',
    content_rowid='id', tokenize="unicode61 remove_diacritics 0 tokenchars '_'", detail=none,
    columnsize=0)""",
    "CREATE VIRTUAL TABLE items_cjk USING fts5(bigrams, content='', tokenize='ascii', "
    "detail=none, columnsize=0)",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
)
TRIGRAM_DDL = (
    """CREATE VIRTUAL TABLE items_tri USING fts5(instruction, input, output, content='items',
    content_rowid='id', tokenize='trigram', columnsize=0)""",
    "INSERT INTO items_tri(items_tri) VALUES ('rebuild')",
)
_PG_RUN = f"'[{CJK_CLASS}]+'"
TSVECTOR_DDL = (
    f"""CREATE FUNCTION bench_cjk_bigrams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE
    PARALLEL SAFE AS $$ SELECT coalesce(array_agg(DISTINCT substr(r.run[1], i, 2)), '{{}}')
    FROM regexp_matches(t, {_PG_RUN}, 'g') AS r(run),
    generate_series(1, char_length(r.run[1]) - 1) AS i $$""",
    f"""CREATE FUNCTION bench_search_doc(t text) RETURNS tsvector LANGUAGE sql IMMUTABLE
    PARALLEL SAFE AS $$ SELECT to_tsvector('simple', regexp_replace(t, {_PG_RUN}, ' ', 'g'))
    || array_to_tsvector(bench_cjk_bigrams(t)) $$""",
    """ALTER TABLE items ADD COLUMN search_doc tsvector GENERATED ALWAYS AS (bench_search_doc(
    instruction || ' ' || coalesce(input, '') || ' ' || output)) STORED""",
    "CREATE INDEX ix_items_search_doc ON items USING gin (search_doc)",
)
ANSWERS = {
    "ours": "words; any CJK string of 2+ characters (bigrams, longer ones checked with LIKE)",
    "fts5": "as ours: the same words and the same CJK bigrams, checked the same way",
    "trigram": "any substring of 3+ characters (words inside longer words too); a 2-character "
    "Chinese word such as 数据 only by a LIKE scan of every item (the index cannot answer it)",
    "tsvector": "as ours: the same words and the same CJK bigrams, checked the same way",
}


def log(message: str) -> None:
    print(f"[bench/fulltext {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def import_items(session_factory, path: Path, folder: Path) -> dict[str, Any]:
    """A project holding the file, imported as the UI's task imports it (batches committed),
    its items then spread over the statuses."""
    with session_factory() as session:
        begin_for_write(session)
        actor = user_service.create_user(
            session=session, email="a@bench.test", role="admin", password="x" * 16, actor=None
        )
        project = project_service.create_project(
            session=session, data=project_service.ProjectInput(name="fulltext"), actor=actor
        )
        with path.open("rb") as stream:
            upload = dict(filename=path.name, stream=stream, folder=folder, actor=actor)
            job = imports.store_upload(session=session, project=project, **upload)
        session.commit()

        def commit(*_: Any) -> None:
            session.commit()
            begin_for_write(session)

        begin_for_write(session)
        t0 = time.perf_counter()
        job = imports.run(
            session=session, job_id=job.id, options=ImportOptions(), actor=actor, commit=commit
        )
        session.commit()
        import_s = time.perf_counter() - t0
        assert job.state == "done", job.message
        begin_for_write(session)
        t1 = time.perf_counter()
        indexer.index_imported(session=session, job=job, commit=commit)
        session.commit()
        pass_s = time.perf_counter() - t1
        begin_for_write(session)
        session.execute(text(f"UPDATE items SET status = {STATUS_BY_TENTH}"))
        session.commit()
        return {
            "project_id": project.id,
            "items": job.created_items,
            "import_s": round(import_s, 2),
            "follow_up_pass_s": round(pass_s, 2),
            "follow_up_pass_items_per_s": round(job.created_items / pass_s),
        }


def build_terms_copy(session_factory, pg: bool) -> float:
    """Seconds to write every item's term rows into an empty copy of ``search_terms``, in the
    pass's batches and as its ``_write_indexes`` writes them (COPY of sorted lines on
    PostgreSQL, one executemany INSERT on SQLite), each batch committed."""
    with session_factory() as session:
        if pg:
            session.execute(text("CREATE TABLE bench_terms (LIKE search_terms INCLUDING ALL)"))
        else:
            ddl = session.scalar(text("SELECT sql FROM sqlite_master WHERE name='search_terms'"))
            session.execute(text(ddl.replace("search_terms", "bench_terms")))
        session.commit()
        begin_for_write(session)
        t0, after = time.perf_counter(), 0
        columns = (Item.id, Item.instruction, Item.input, Item.output, Item.demos)
        while rows := session.execute(
            select(*columns).where(Item.id > after).order_by(Item.id).limit(indexer.BATCH)
        ).all():
            texts = (neardup.item_text(r.instruction, r.input, r.output, r.demos) for r in rows)
            terms = [(row.id, terms_of(t)) for row, t in zip(rows, texts, strict=True)]
            if pg:
                lines = sorted(f"{term}\t{item_id}\n" for item_id, ws in terms for term in ws)
                bulk.copy_text(session, TERMS_COPY, ("term", "item_id"), "".join(lines))
            else:
                pairs = [(term, item_id) for item_id, ws in terms for term in ws]
                bulk.write(session, TERMS_COPY, ("term", "item_id"), pairs)
            session.commit()
            begin_for_write(session)
            after = rows[-1].id
        session.commit()
        took = time.perf_counter() - t0
        session.execute(text("DROP TABLE bench_terms"))
        session.commit()
        return took


def write_bigrams(conn: sa.Connection) -> None:
    """Each Chinese item's CJK bigrams into the contentless table, as one string."""
    bigrams = []
    for row in conn.execute(select(Item.id, Item.instruction, Item.input, Item.output)):
        runs = _CJK_RUN.findall(f"{row.instruction}\n{row.input}\n{row.output}")
        if found := {run[i : i + 2] for run in runs for i in range(len(run) - 1)}:
            bigrams.append((row.id, " ".join(found)))
    if bigrams:
        conn.exec_driver_sql("INSERT INTO items_cjk(rowid, bigrams) VALUES (?, ?)", bigrams)


def build(engine: sa.Engine, statements: tuple[str, ...], then=None) -> float:
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
        if then:
            then(conn)
    return time.perf_counter() - t0


def _quoted(terms: list[str]) -> str:
    """An FTS5 query ANDing the terms, each a string (no operator or column filter)."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _checked(query: Select, texts: list[str]) -> Select:
    """The substring checks of a search, as ours makes them (``repository._where``)."""
    for value in texts:
        pattern = "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        fold = func.lower if value.upper() != value else (lambda column: column)
        columns = (Item.instruction, Item.input, Item.output)
        query = query.where(or_(*(fold(c).like(pattern, escape="\\") for c in columns)))
    return query


FTS_WORDS = sa.table("items_fts", sa.column("rowid"))
FTS_CJK = sa.table("items_cjk", sa.column("rowid"))
FTS_TRIGRAM = sa.table("items_tri", sa.column("rowid"))


def fts5_search(query: Select, q: str) -> tuple[Select, Any]:
    """Driven by the words' table, or by the bigrams' for a Chinese search; the other probed."""
    exact, verify = query_terms(q)
    bigrams = [t for t in exact if _BIGRAM.fullmatch(t)]
    words = [t for t in exact if t not in bigrams]
    if not exact:
        return _checked(query, verify), Item.id
    driver = FTS_WORDS if words else FTS_CJK
    query = query.join(driver, driver.c.rowid == Item.id)
    if words:
        query = query.where(text("items_fts MATCH :words").bindparams(words=_quoted(words)))
    if bigrams:
        match = text("items_cjk MATCH :bigrams").bindparams(bigrams=_quoted(bigrams))
        probed = Item.id.in_(select(FTS_CJK.c.rowid).where(match))
        query = query.where(match if driver is FTS_CJK else probed)
    return _checked(query, verify), driver.c.rowid


def trigram_search(query: Select, q: str) -> tuple[Select, Any]:
    """Each run of word characters a substring: the index answers those of 3+ characters."""
    parts = list(dict.fromkeys(_RUNS.findall(q.casefold())))
    indexed = [p for p in parts if len(p) >= 3]
    if not indexed:
        return _checked(query, parts), Item.id
    query = query.join(FTS_TRIGRAM, FTS_TRIGRAM.c.rowid == Item.id)
    query = query.where(text("items_tri MATCH :parts").bindparams(parts=_quoted(indexed)))
    return _checked(query, [p for p in parts if len(p) < 3]), FTS_TRIGRAM.c.rowid


def tsvector_search(query: Select, q: str) -> tuple[Select, Any]:
    exact, verify = query_terms(q)
    if exact:
        lexemes = " & ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in exact)
        query = query.where(text("items.search_doc @@ CAST(:q AS tsquery)").bindparams(q=lexemes))
    return _checked(query, verify), Item.id


Search = Callable[[Select, str], tuple[Select, Any]]
Read = Callable[[Session, str], Any]
# Per database, each engine's (statements that build it, a Python step after them, its search).
ENGINES: dict[str, dict[str, tuple[tuple[str, ...], Any, Search]]] = {
    "sqlite": {
        "fts5": (FTS5_DDL, write_bigrams, fts5_search),
        "trigram": (TRIGRAM_DDL, None, trigram_search),
    },
    "postgresql": {"tsvector": (TSVECTOR_DDL, None, tsvector_search)},
}


def engine_reads(project_id: int, search: Search) -> tuple[Read, Read]:
    """An engine's (page, counts): the first page's ids newest first, and the matches per
    status up to the cap, counted in one query as ``repository._searched_counts`` counts."""

    def page(session: Session, q: str) -> list[int]:
        query, order = search(select(Item).where(Item.project_id == project_id), q)
        return [item.id for item in session.scalars(query.order_by(order.desc()).limit(PAGE + 1))]

    def counts(session: Session, q: str) -> dict[str, int]:
        query, order = search(select(Item.status).where(Item.project_id == project_id), q)
        if session.get_bind().dialect.name == "sqlite":
            query = query.order_by(order.desc())  # walk the index, as ours does on SQLite
        found = query.limit(CAP + 1).subquery()
        return dict(
            session.execute(select(found.c.status, func.count()).group_by(found.c.status)).all()
        )

    return page, counts


def our_reads(project_id: int) -> tuple[Read, Read]:
    def page(session: Session, q: str) -> list[int]:
        items, _ = repository.page(session, repository.ItemFilter(project_id=project_id, q=q))
        return [item.id for item in items]

    def counts(session: Session, q: str) -> dict[str, int]:
        f = repository.ItemFilter(project_id=project_id, q=q)
        return repository.counts_by_status(session, f).counts

    return page, counts


def _p(ms: list[float], q: int) -> float:
    return round(statistics.quantiles(ms, n=100, method="inclusive")[q - 1], 2)


def time_searches(session_factory, words: dict[str, str], reads: dict, runs: int) -> dict:
    """Per engine and word: page, counts and both, p50/p95 of ``runs`` runs, each in a new
    session; the engines take turns, so that load from elsewhere falls on all of them."""
    results: dict[str, dict[str, Any]] = {name: {} for name in reads}
    for label, word in words.items():
        times = {name: ([], [], []) for name in reads}
        for n in range(WARMUP + runs):
            for name, (page, counts) in reads.items():
                with session_factory() as session:
                    t0 = time.perf_counter()
                    ids = page(session, word)
                    t1 = time.perf_counter()
                    found = counts(session, word)
                    t2 = time.perf_counter()
                if n >= WARMUP:
                    for ms, took in zip(times[name], (t1 - t0, t2 - t1, t2 - t0), strict=True):
                        ms.append(took * 1000)
                if n == 0:
                    results[name][label] = {"word": word, "matches": min(sum(found.values()), CAP)}
                    results[name][label] |= {"_ids": ids[:PAGE], "_counts": found}
        for name, parts in times.items():
            for part, ms in zip(("page", "counts", "page_and_counts"), parts, strict=True):
                results[name][label] |= {f"{part}_p50_ms": _p(ms, 50), f"{part}_p95_ms": _p(ms, 95)}
    return results


def settle(engine: sa.Engine, pg: bool) -> None:
    """What autovacuum would have done by the time anyone searches (PostgreSQL)."""
    if pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def sizes_mb(engine: sa.Engine, pg: bool) -> dict[str, float]:
    """Each engine's index on disk (PostgreSQL: the tsvector column's values and the GIN)."""
    with engine.connect() as conn:
        one = conn.exec_driver_sql
        if pg:
            sizes = {
                "ours": one("SELECT pg_total_relation_size('search_terms')").scalar(),
                "tsvector_column": one(
                    "SELECT sum(pg_column_size(search_doc)) FROM items"
                ).scalar(),
                "tsvector_gin": one("SELECT pg_relation_size('ix_items_search_doc')").scalar(),
            }
            sizes["tsvector"] = sizes["tsvector_column"] + sizes["tsvector_gin"]
        else:
            pages = one("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").all()
            prefixes = {
                "ours": ("search_terms", "sqlite_autoindex_search_terms"),
                "fts5": ("items_fts_", "items_cjk_"),
                "trigram": ("items_tri_",),
            }
            sizes = {k: sum(n for t, n in pages if t.startswith(p)) for k, p in prefixes.items()}
    return {name: round(size / 2**20, 1) for name, size in sizes.items()}


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
    else:
        with fresh_database(log) as url:
            yield url


def run_backend(backend: str, path: Path, words: dict[str, str], runs: int) -> dict[str, Any]:
    pg = backend == "postgresql"
    with database(backend) as url, tempfile.TemporaryDirectory() as uploads:
        migrate.upgrade(url)
        engine = make_engine(url)
        session_factory = make_session_factory(engine)
        log(f"{backend}: importing {path.name}")
        seeded = import_items(session_factory, path, Path(uploads))
        items, project_id = seeded["items"], seeded["project_id"]
        log(f"{backend}: {items:,} items, pass {seeded['follow_up_pass_s']} s; term rows alone")
        build_s = {"ours": build_terms_copy(session_factory, pg)}
        settle(engine, pg)
        # Ours first, on items as the app has them (a tsvector column widens every row).
        log(f"{backend}: timing ours")
        loads = [os.getloadavg()[0]]
        timed = time_searches(session_factory, words, {"ours": our_reads(project_id)}, runs)
        reads = {}
        for name, (statements, then, search) in ENGINES[backend].items():
            log(f"{backend}: building {name}")
            build_s[name] = build(engine, statements, then)
            reads[name] = engine_reads(project_id, search)
        settle(engine, pg)
        log(f"{backend}: timing {', '.join(reads)}")
        timed |= time_searches(session_factory, words, reads, runs)
        loads.append(os.getloadavg()[0])
        sizes = sizes_mb(engine, pg)
        engines = {
            name: {
                "build_s": round(build_s[name], 2),
                "build_items_per_s": round(items / build_s[name]),
                "size_mb": sizes[name],
                # The follow-up pass with this engine's build in place of our term rows.
                "pass_items_per_s_with_it": round(
                    items / (seeded["follow_up_pass_s"] - build_s["ours"] + build_s[name])
                ),
                "chinese": ANSWERS[name],
                "searches": timed[name],
            }
            for name in timed
        }
        engine.dispose()
    for result in engines.values():  # the same first page, and the same counts below the cap
        for label, theirs in result["searches"].items():
            ours = engines["ours"]["searches"][label]
            theirs["same_as_ours"] = theirs["_ids"] == ours["_ids"] and (
                theirs["_counts"] == ours["_counts"] or theirs["matches"] == ours["matches"] == CAP
            )
    for result in engines.values():
        for theirs in result["searches"].values():
            del theirs["_ids"], theirs["_counts"]
    return {**seeded, "load_average": loads, "sizes_mb": sizes, "engines": engines}


def verdict(engines: dict[str, Any]) -> dict[str, Any]:
    """Per engine: its worst word's p95s, on how many words it beats ours, whether it meets
    the budgets. The one to keep: of those meeting the budgets, the fastest (its worst page
    with counts), or one as fast within ``TIE`` whose follow-up pass is faster."""
    judged: dict[str, dict[str, Any]] = {}
    ours = engines["ours"]["searches"]
    for name, result in engines.items():
        found = result["searches"]
        judged[name] = {
            f"worst_{part}_p95_ms": max(f[f"{part}_p95_ms"] for f in found.values())
            for part in ("page", "counts", "page_and_counts")
        }
        judged[name]["words_faster_than_ours"] = {
            part: sum(f[f"{part}_p95_ms"] < ours[k][f"{part}_p95_ms"] for k, f in found.items())
            for part in ("page", "counts")
        }
        judged[name] |= {
            "same_results_as_ours": all(f["same_as_ours"] for f in found.values()),
            "meets_search_budget": judged[name]["worst_page_and_counts_p95_ms"] < BUDGET_MS,
            "meets_pass_budget": result["pass_items_per_s_with_it"] >= PASS_BUDGET_ITEMS_PER_S,
        }
    meeting = [n for n, j in judged.items() if j["meets_search_budget"] and j["meets_pass_budget"]]

    def worst(name: str, part: str = "page_and_counts") -> float:
        return judged[name][f"worst_{part}_p95_ms"]

    fastest = min(meeting, key=worst, default=None)
    # Within TIE of the fastest is the same speed on a shared machine: the faster pass decides.
    tied = [n for n in meeting if fastest and worst(n) <= worst(fastest) * (1 + TIE)]
    keep = max(tied, key=lambda n: engines[n]["pass_items_per_s_with_it"], default="ours")
    return {
        "engines": judged,
        "faster_pages": min(judged, key=lambda n: worst(n, "page")),
        "faster_counts": min(judged, key=lambda n: worst(n, "counts")),
        "fastest_meeting_budgets": fastest,
        "as_fast_within_tie": tied,
        "keep": keep,
        "why": f"{keep}: worst p95 of a page with counts {worst(keep)} ms (fastest meeting the "
        f"budgets: {fastest}, {worst(fastest) if fastest else '-'} ms); follow-up pass "
        f"{engines[keep]['pass_items_per_s_with_it']} items/s, index {engines[keep]['size_mb']} MB",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="items imported")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per word and engine")
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "fulltext",
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "rows": args.rows,
        "runs": args.runs,
        "budget_p95_ms": BUDGET_MS,
        "pass_budget_items_per_s": PASS_BUDGET_ITEMS_PER_S,
        "tie_within": TIE,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = corpus.write_rows(Path(tmp) / f"corpus-{args.rows}.jsonl", args.rows)
        words = {**search_words.pick_words(path), "zh": CHINESE_WORD}
        shares = search_words.word_counts(path, words)
        report["words"] = {k: {"word": w, "items": shares[k]} for k, w in words.items()}
        log(f"words: {words}")
        report["sqlite"] = run_backend("sqlite", path, words, args.runs)
        report["sqlite"]["sqlite_version"] = sqlite3.sqlite_version
        if reason := postgres_unavailable():
            report["postgresql"] = {"skipped": reason}
        else:
            report["postgresql"] = run_backend("postgresql", path, words, args.runs)
    report["verdict"] = {
        backend: verdict(report[backend]["engines"])
        for backend in ("sqlite", "postgresql")
        if "engines" in report[backend]
    }
    report["verdict"]["keep"] = {db: judged["keep"] for db, judged in report["verdict"].items()}
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
