"""Freezing a dataset version at 100k items, diverse and templated, on SQLite and PostgreSQL.

Prints one JSON object on stdout (progress goes to stderr). Design §7's budget, checked here:
freezing a version of 100k items takes under 10 s, contamination check included, with diverse
data and with templated data (most items near-copies of each other).

What it does, for each database (a temporary SQLite file, and a fresh database on the local
PostgreSQL server when one answers) and each kind of data:

1. writes a deterministic Alpaca JSONL file: *diverse* rows as ``bench/datasets.py`` writes them
   (English and ~30% Chinese, 20-120 words, 1% near-copies), or *templated* rows, one request
   with a few slots filled in (customer, order number, product, day), as generated data often is;
2. imports it into a project of its own through the service the UI uses (``imports.store_upload``
   and ``imports.run``, then its follow-up pass, ``indexer.index_imported``: search terms and
   near-duplicate keys), and approves every item with one UPDATE;
3. times the baseline, the floor of any freeze: reading each item's latest revision snapshot
   (one bare ``SELECT`` of what the freeze pins); then the freeze as the background task runs
   it, with a 10% eval split: ``freezing.freeze`` and its commit (``freeze_s``: from then on the
   version is usable, contamination check included; the budget applies to this), then
   ``freezing.add_statistics`` and its commit (``statistics_s``, the task's second step); then
   the contamination check alone (``contamination.check``) on the frozen version, with its
   report (eval items, contaminated, capped by the bounds).

    .venv/bin/python bench/freeze.py                       # 100k items, both databases
    .venv/bin/python bench/freeze.py --rows 10000          # quick run
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# As in bench/datasets.py: this folder must not shadow the `datasets` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import update  # noqa: E402

from app import migrate  # noqa: E402
from app.datasets import contamination, freezing, versions  # noqa: E402
from app.db import begin_for_write, make_engine, make_session_factory  # noqa: E402
from app.imports import indexer  # noqa: E402
from app.imports import service as imports  # noqa: E402
from app.imports.reader import ImportOptions  # noqa: E402
from app.models import Item, ItemRevision, Project, User  # noqa: E402
from app.projects import service as project_service  # noqa: E402
from app.users import service as user_service  # noqa: E402
from bench.datasets import AlpacaGenerator  # noqa: E402
from bench.pg import fresh_database, postgres_unavailable  # noqa: E402

BUDGET_S = 10.0
EVAL_FRACTION = 0.1
NAMES = ["Alice", "Bob", "Chen", "Dana", "Emeka", "Fatima", "Gao", "Hiro", "Ines", "Jonas"]
PRODUCTS = ["kettle", "desk lamp", "rain jacket", "phone case", "coffee grinder", "backpack"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
TEMPLATE = (
    "Write a short, polite reply to {name}, who asks when order {order} for a {product} will "
    "arrive. Explain that the parcel left our warehouse this morning and should reach them on "
    "{day}, and offer to send the tracking link."
)
ANSWER = (
    "Dear {name}, thank you for your message. Your order {order} for the {product} left our "
    "warehouse this morning and should reach you on {day}. Would you like the tracking link? "
    "Kind regards, the support team."
)


def log(message: str) -> None:
    print(f"[bench/freeze {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_rows(path: Path, rows: int, data: str) -> None:
    """``rows`` Alpaca rows of the kind ``data`` names."""
    with path.open("w", encoding="utf-8") as f:
        if data == "diverse":
            gen = AlpacaGenerator(0)
            for _ in range(rows):
                f.write(json.dumps(gen.row(), ensure_ascii=False) + "\n")
            return
        rng = random.Random(0)
        for n in range(rows):
            slots = {
                "name": rng.choice(NAMES),
                "order": f"{100000 + n}",
                "product": rng.choice(PRODUCTS),
                "day": rng.choice(DAYS),
            }
            row = {"instruction": TEMPLATE.format(**slots), "output": ANSWER.format(**slots)}
            f.write(json.dumps(row) + "\n")


def seed(session_factory, admin_id: int, path: Path, folder: Path, name: str) -> dict[str, Any]:
    """A project holding the file's rows, imported as the UI imports them, all approved."""
    with session_factory() as session:
        begin_for_write(session)
        actor = session.get(User, admin_id)
        project = project_service.create_project(
            session=session, data=project_service.ProjectInput(name=name), actor=actor
        )
        with path.open("rb") as stream:
            job = imports.store_upload(
                session=session,
                project=project,
                filename=path.name,
                stream=stream,
                folder=folder,
                actor=actor,
            )
        session.commit()
        project_id, job_id = project.id, job.id
    t0 = time.perf_counter()
    with session_factory() as session:
        begin_for_write(session)
        job = imports.run(
            session=session,
            job_id=job_id,
            options=ImportOptions(),
            actor=session.get(User, admin_id),
        )
        session.commit()
        assert job.state == "done", job.message
        created = job.created_items
        begin_for_write(session)
        indexer.index_imported(session=session, job=job)
        session.commit()
        begin_for_write(session)
        session.execute(
            update(Item)
            .where(Item.project_id == project_id)
            .values(status="approved")
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return {"project_id": project_id, "items": created, "seed_s": round(time.perf_counter() - t0)}


def floor_read(engine: sa.Engine, project_id: int) -> float:
    """Seconds to read every item's latest revision snapshot: what a freeze must at least do."""
    latest = (
        sa.select(ItemRevision.item_id, sa.func.max(ItemRevision.version).label("v"))
        .join(Item, Item.id == ItemRevision.item_id)
        .where(Item.project_id == project_id)
        .group_by(ItemRevision.item_id)
        .subquery()
    )
    query = sa.select(ItemRevision.item_id, ItemRevision.snapshot).join(
        latest,
        sa.and_(latest.c.item_id == ItemRevision.item_id, latest.c.v == ItemRevision.version),
    )
    t0 = time.perf_counter()
    with engine.connect() as conn:
        rows = sum(1 for _ in conn.execute(query))
    assert rows > 0
    return time.perf_counter() - t0


def freeze(session_factory, admin_id: int, project_id: int) -> dict[str, Any]:
    """The freeze as the task runs it: ``freezing.freeze`` and its commit (the version is
    usable from then on), then ``freezing.add_statistics`` and its commit; then the
    contamination check alone, again, on the frozen version."""
    with session_factory() as session:
        begin_for_write(session)
        t0 = time.perf_counter()
        version, rows = freezing.freeze(
            session=session,
            project=session.get(Project, project_id),
            name="bench",
            f=versions.VersionFilter(),
            actor=session.get(User, admin_id),
            eval_fraction=EVAL_FRACTION,
        )
        session.commit()
        freeze_s = time.perf_counter() - t0
        begin_for_write(session)
        t1 = time.perf_counter()
        freezing.add_statistics(session, version, rows)
        session.commit()
        statistics_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        report = contamination.check(session, version_id=version.id, project_id=project_id)
        check_s = time.perf_counter() - t2
        return {
            "items": version.train_count + version.eval_count,
            "freeze_s": round(freeze_s, 2),
            "statistics_s": round(statistics_s, 2),
            "freeze_with_statistics_s": round(freeze_s + statistics_s, 2),
            "contamination_check_s": round(check_s, 2),
            "exact_comparisons": report.compared,
            "contamination": report.summary(),
        }


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
    else:
        with fresh_database(log) as url:
            yield url


def run_backend(backend: str, rows: int, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with database(backend) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        session_factory = make_session_factory(engine)
        with session_factory() as session:
            admin = user_service.create_user(
                session=session,
                email="admin@bench.test",
                role="admin",
                password="x" * 16,
                actor=None,
            )
            session.commit()
            admin_id = admin.id
        for data in ("diverse", "templated"):
            path = work / f"{data}-{rows}.jsonl"
            if not path.exists():
                write_rows(path, rows, data)
            log(f"{backend}: importing {rows:,} {data} rows")
            seeded = seed(session_factory, admin_id, path, work / f"uploads-{backend}", data)
            if backend == "sqlite":
                with engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
            else:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
            floor_s = floor_read(engine, seeded["project_id"])
            log(f"{backend}: freezing {seeded['items']:,} {data} items")
            frozen = freeze(session_factory, admin_id, seeded["project_id"])
            results[data] = {
                **seeded,
                **frozen,
                "floor_read_s": round(floor_s, 2),
                "ratio_freeze_to_floor": round(frozen["freeze_s"] / floor_s, 1),
                "budget_s": BUDGET_S,
                "met": frozen["freeze_s"] < BUDGET_S,
            }
        engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="items per project")
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "freeze",
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "rows": args.rows,
        "eval_fraction": EVAL_FRACTION,
    }
    with tempfile.TemporaryDirectory() as tmp:
        report["sqlite"] = run_backend("sqlite", args.rows, Path(tmp))
        reason = postgres_unavailable()
        if reason:
            report["postgresql"] = {"skipped": reason}
        else:
            report["postgresql"] = run_backend("postgresql", args.rows, Path(tmp))
    report["all_budgets_met"] = all(
        result["met"]
        for backend in ("sqlite", "postgresql")
        for result in report[backend].values()
        if isinstance(result, dict)
    )
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
