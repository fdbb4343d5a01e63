"""A Locust load test of the real app: annotators saving, reviewers deciding, readers listing and
searching, over loopback HTTP against ``studio serve --workers 2`` on a fresh PostgreSQL database.

Prints one JSON object on stdout (progress goes to stderr). Design §7's save budget, checked here:
p95 under 50 ms with 20 users each saving every 0.5-1.5 s, at 100,000 items. Besides latency it
checks what a load test can find and a timing loop cannot: no 5xx, and no lost writes (every save
Locust saw acknowledged is a revision in the database, and every item's version adds up).

What it does: creates a fresh database (``STUDIO_BENCH_PG_URL``, as ``bench/items.py``), migrates
it and seeds ``--items`` items the way ``bench/items.py`` does (the rows ``create_item`` writes,
in batches), with annotators (project members, each with a user-scope API token), reviewers and a
project. It starts the app as a separate process with two workers and runs Locust headless in a
subprocess, from its own virtual environment ``bench/.venv-load`` (created and filled with
``pip install locust==2.47.0`` on first use), twice:

- ``paced``: annotators, reviewers and readers (3:1:1), each pausing ``--wait`` between actions;
- ``back_to_back``: annotators only, no pause: the save throughput of the machine, then a
  breakdown of a save by phase (in-process, statement by statement) and PostgreSQL's lock waits
  sampled during the run.

The database is dropped at the end, also on failure or Ctrl-C/SIGTERM.

    .venv/bin/python bench/load.py                                        # 100k items, 20 users
    .venv/bin/python bench/load.py --items 2000 --users 5 --duration 15s  # a quick run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event, select  # noqa: E402

from app import migrate  # noqa: E402
from app.db import make_engine, make_session_factory  # noqa: E402
from app.items import service as item_service  # noqa: E402
from app.items.schemas import ItemDraft  # noqa: E402
from app.members import service as member_service  # noqa: E402
from app.models import Item, Project, User  # noqa: E402
from app.tokens import service as token_service  # noqa: E402
from app.users import service as user_service  # noqa: E402
from bench import items as item_bench  # noqa: E402
from bench.items import (  # noqa: E402
    DRAFT_FIELDS,
    EN_FREQUENT,
    EN_RARE,
    PASSWORD,
    ZH_QUERY,
    Seeder,
    Server,
    make_people,
    summary,
)
from bench.pg import fresh_database, postgres_unavailable  # noqa: E402

LOCUST_VERSION = "2.47.0"
LOAD_VENV = ROOT / "bench" / ".venv-load"
LOCUST = LOAD_VENV / "bin" / "locust"
LOCUSTFILE = ROOT / "bench" / "locustfile.py"
BUDGET_MS = 50.0
BUDGET_USERS = 20
BUDGET_ITEMS = 100_000
ACTIONS = ["get", "save", "review_next", "review_decide", "list", "search"]
# Searched words of several frequencies (bench/items.py): ~1% English, ~1% Chinese, most English.
SEARCH_WORDS = [EN_RARE, ZH_QUERY, EN_FREQUENT]
SAMPLE_EVERY_S = 0.05
STOP_TIMEOUT_S = 10


def log(message: str) -> None:
    print(f"[bench/load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Locust, in its own virtual environment
# ---------------------------------------------------------------------------------------------


def ensure_locust() -> None:
    """``bench/.venv-load`` with Locust pinned; left as it is when that version is there."""
    if LOCUST.exists():
        found = subprocess.run([str(LOCUST), "--version"], capture_output=True, text=True)
        if f"locust {LOCUST_VERSION} " in found.stdout + found.stderr:
            return
    log(f"installing locust=={LOCUST_VERSION} into {LOAD_VENV.relative_to(ROOT)}")
    subprocess.run([sys.executable, "-m", "venv", str(LOAD_VENV)], check=True)
    pip = [str(LOAD_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"locust=={LOCUST_VERSION}"], check=True, stdout=sys.stderr)


def run_locust(
    base: str, config: dict, classes: list[str], users: int, tmp: Path, name: str
) -> tuple[dict, dict[str, dict[str, int]]]:
    """One headless run; returns what the locustfile kept and Locust's own totals per action
    (from the final stats it writes with ``--json-file``, to cross-check the counts; its CSV
    is written every second and can miss the last one)."""
    config_path = tmp / f"{name}.config.json"
    config_path.write_text(json.dumps(config))
    prefix = tmp / name
    command = [
        str(LOCUST),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "-u",
        str(users),
        "-r",
        str(ARGS.rate or users),
        "-t",
        f"{ARGS.duration}s",
        "--stop-timeout",
        str(STOP_TIMEOUT_S),
        "--host",
        base,
        "--json-file",
        str(prefix),
        *classes,
    ]
    env = {**os.environ, "STUDIO_LOAD_CONFIG": str(config_path)}
    output = tmp / f"{name}.locust.log"
    with output.open("wb") as out:
        proc = subprocess.Popen(command, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            returncode = proc.wait(ARGS.duration + STOP_TIMEOUT_S + 120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # 1: some request failed, which the report counts; anything else is Locust itself failing.
    if returncode not in (0, 1) or not Path(config["samples_path"]).exists():
        tail = "\n".join(output.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"locust exited {returncode}:\n{tail}")
    totals = {
        entry["name"]: {"requests": entry["num_requests"], "failures": entry["num_failures"]}
        for entry in json.loads(Path(f"{prefix}.json").read_text())
        if entry["name"] in ACTIONS
    }
    return json.loads(Path(config["samples_path"]).read_text()), totals


# ---------------------------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------------------------


def add_reviewers(session_factory, project_id: int, count: int) -> list[str]:
    """More reviewer members with a user-scope token each, so that no two Locust reviewers
    share an account (a shared account would hold one lease between them)."""
    tokens = []
    with session_factory() as session:
        admin = session.scalar(select(User).where(User.role == "admin"))
        project = session.get(Project, project_id)
        for n in range(count):
            user = user_service.create_user(
                session=session,
                email=f"load-reviewer{n:02d}@bench.test",
                role="reviewer",
                password=PASSWORD,
                actor=admin,
            )
            member_service.add_member(
                session=session, project=project, user=user, role="reviewer", actor=admin
            )
            token = token_service.create_token(
                session=session, name=f"load reviewer {n}", scope="user", owner=user, actor=admin
            )
            tokens.append(token.raw)
        session.commit()
    return tokens


def locust_config(engine, project_id: int, people, reviewer_tokens: list[str]) -> dict:
    """What the locustfile gets: each annotator's token with the oldest ``--pool`` of their own
    items that can still be edited (not rejected). Reviewers claim the oldest submissions, so
    the two overlap and some saves meet a decision (a real 409)."""
    annotators = []
    with engine.connect() as conn:
        for user, token in people:
            ids = conn.scalars(
                select(Item.id)
                .where(
                    Item.project_id == project_id,
                    Item.author_id == user.id,
                    Item.status != "rejected",
                )
                .order_by(Item.id)
                .limit(ARGS.pool)
            ).all()
            if ids:
                annotators.append({"token": token, "items": list(ids)})
    if not annotators:
        raise RuntimeError("no editable items to load: seed more items")
    return {
        "project_id": project_id,
        "draft_fields": DRAFT_FIELDS,
        "annotators": annotators,
        "reviewers": [{"token": token} for token in reviewer_tokens],
        "readers": [{"token": token} for _, token in people],
        "search_words": SEARCH_WORDS,
    }


# ---------------------------------------------------------------------------------------------
# Watching a run: PostgreSQL's waits, CPU per process
# ---------------------------------------------------------------------------------------------


class ActivitySampler(threading.Thread):
    """Samples ``pg_stat_activity`` for this database every 50 ms: how many backends run a
    statement, on what they wait (``Lock``: a row or transaction lock another transaction
    holds), and how many sit idle inside a transaction (waiting for the app between
    statements)."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.stopping = threading.Event()
        self.samples = 0
        self.active = 0
        self.idle_in_transaction = 0
        self.locked = 0
        self.samples_with_lock = 0
        self.by_wait: dict[str, int] = {}
        self.lock_events: dict[str, int] = {}
        self.pids: set[int] = set()

    def run(self) -> None:
        query = sa.text(
            "SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while not self.stopping.wait(SAMPLE_EVERY_S):
                rows = conn.execute(query).all()
                self.samples += 1
                locked = 0
                for pid, state, wait_type, wait_event in rows:
                    self.pids.add(pid)
                    if state == "idle in transaction":
                        self.idle_in_transaction += 1
                    if state != "active":
                        continue
                    self.active += 1
                    key = wait_type or "none (on CPU)"
                    self.by_wait[key] = self.by_wait.get(key, 0) + 1
                    if wait_type == "Lock":
                        locked += 1
                        self.lock_events[wait_event] = self.lock_events.get(wait_event, 0) + 1
                self.locked += locked
                self.samples_with_lock += locked > 0

    def stop(self) -> dict[str, Any]:
        self.stopping.set()
        self.join()
        n = max(1, self.samples)
        active = max(1, self.active)
        return {
            "samples": self.samples,
            "every_ms": SAMPLE_EVERY_S * 1000,
            "mean_backends_running_a_statement": round(self.active / n, 2),
            "mean_backends_idle_in_transaction": round(self.idle_in_transaction / n, 2),
            "mean_backends_waiting_on_a_lock": round(self.locked / n, 3),
            "share_of_samples_with_a_lock_wait": round(self.samples_with_lock / n, 3),
            "running_statements_by_wait": {
                key: round(count / active, 3) for key, count in sorted(self.by_wait.items())
            },
            "lock_waits_by_event": dict(sorted(self.lock_events.items())),
        }


TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return pids


def machine_busy_s() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


class CpuMeter:
    """CPU used during a run by the web process and its workers, this database's backends,
    Locust (the only child this process reaps meanwhile), this process (the sampler) and the
    whole machine, in cores; what is left is other processes sharing the machine."""

    def __init__(self, server_pid: int, backends: set[int]) -> None:
        self.server_pid = server_pid
        self.wall = time.monotonic()
        self.machine = machine_busy_s()
        self.web = {pid: cpu_s(pid) for pid in process_tree(server_pid)}
        self.backends = {pid: cpu_s(pid) for pid in backends}
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.own = _rusage_s(resource.RUSAGE_SELF)

    def stop(self, backends: set[int]) -> dict[str, Any]:
        wall = time.monotonic() - self.wall
        web = sum(cpu_s(p) - self.web.get(p, 0.0) for p in process_tree(self.server_pid))
        pg = sum(cpu_s(p) - self.backends.get(p, 0.0) for p in backends | set(self.backends))
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        locust = (children.ru_utime - self.children.ru_utime) + (
            children.ru_stime - self.children.ru_stime
        )
        own = _rusage_s(resource.RUSAGE_SELF) - self.own
        busy = machine_busy_s() - self.machine
        return {
            "wall_s": round(wall, 1),
            "cpus": os.cpu_count(),
            "machine_busy_cores": round(busy / wall, 2),
            "web_workers_cores": round(web / wall, 2),
            "postgres_backends_cores": round(pg / wall, 2),
            "locust_cores": round(locust / wall, 2),
            "load_py_cores": round(own / wall, 2),
            "other_processes_cores": round(max(0.0, busy - web - pg - locust - own) / wall, 2),
        }


def _rusage_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def current_backends(engine: sa.Engine) -> set[int]:
    with engine.connect() as conn:
        return set(
            conn.scalars(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
        )


def connection_floor(base: str, n: int = 30) -> dict[str, dict]:
    """``/healthz`` (one ``SELECT 1``) one request at a time, on one kept-alive connection (as
    Locust's users send theirs) and on a new connection each time. Kept-alive should be the
    faster; when it is slower by about 40 ms, the server's sockets have Nagle's algorithm on
    (no TCP_NODELAY) and each answer after a connection's first waits for the client's delayed
    ACK, which every figure of the runs then includes."""
    result = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(3):
            client.get("/healthz").raise_for_status()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.get("/healthz").raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
        result["healthz_kept_alive"] = summary(times)
    times = []
    for _ in range(n):
        with httpx.Client(base_url=base, timeout=30) as client:
            t0 = time.perf_counter()
            client.get("/healthz").raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    result["healthz_new_connection"] = summary(times)
    return result


# ---------------------------------------------------------------------------------------------
# A run: latency per action, lost writes
# ---------------------------------------------------------------------------------------------


def per_action(samples: list[list]) -> dict[str, dict[str, Any]]:
    """count, p50/p95 (every request, conflicts included), errors (neither 2xx nor 409, or no
    answer), 5xx and conflicts (409) per action."""
    result = {}
    for action in ACTIONS:
        mine = [s for s in samples if s[0] == action]
        if not mine:
            continue
        row: dict[str, Any] = summary([s[1] for s in mine])
        statuses = [s[2] for s in mine]
        row["ok"] = sum(200 <= s < 300 for s in statuses)
        row["conflicts_409"] = statuses.count(409)
        row["errors"] = len(statuses) - row["ok"] - row["conflicts_409"]
        row["server_errors_5xx"] = sum(s >= 500 for s in statuses)
        row["no_answer"] = statuses.count(0)
        result[action] = row
    return result


def check_writes(engine, project_id: int, revisions_before: int, acknowledged: list) -> dict:
    """Every save Locust saw acknowledged (2xx, with the item id and version it answered) is a
    revision written during the run, and every item's version adds up: one per revision plus
    one per review decision (a decision changes the status, which bumps the version without
    writing a revision; with one approval needed every decision changes the status)."""
    with engine.connect() as conn:
        written = conn.execute(
            sa.text("SELECT item_id, version FROM item_revisions WHERE id > :before"),
            {"before": revisions_before},
        ).all()
        approvals = conn.scalar(select(Project.approvals_needed).where(Project.id == project_id))
        mismatched = conn.scalar(
            sa.text(
                "SELECT count(*) FROM items i "
                "LEFT JOIN (SELECT item_id, count(*) AS n FROM item_revisions GROUP BY item_id) r "
                "ON r.item_id = i.id "
                "LEFT JOIN (SELECT item_id, count(*) AS n FROM reviews GROUP BY item_id) v "
                "ON v.item_id = i.id "
                "WHERE i.project_id = :project "
                "AND i.version <> coalesce(r.n, 0) + coalesce(v.n, 0)"
            ),
            {"project": project_id},
        )
    written_set = {(item_id, version) for item_id, version in written}
    acked = [tuple(pair) for pair in acknowledged]
    found = sum(pair in written_set for pair in set(acked))
    return {
        "saves_acknowledged": len(acked),
        "revisions_written": len(written),
        "revisions_equal_saves": len(written) == len(acked),
        # An acknowledged save without its revision, or two acknowledged with one version.
        "lost_writes": len(acked) - found,
        "revisions_not_acknowledged": len(written_set - set(acked)),
        "items_whose_version_does_not_add_up": mismatched if approvals == 1 else None,
    }


def run_once(
    name: str,
    classes: list[str],
    wait: tuple[float, float],
    server: Server,
    engine: sa.Engine,
    project_id: int,
    config: dict,
    tmp: Path,
) -> dict[str, Any]:
    with engine.connect() as conn:
        revisions_before = conn.scalar(sa.text("SELECT coalesce(max(id), 0) FROM item_revisions"))
    config = {**config, "wait_s": list(wait), "samples_path": str(tmp / f"{name}.samples.json")}
    log(f"run {name}: {ARGS.users} users ({', '.join(classes)}), {ARGS.duration}s, wait {wait} s")
    sampler = ActivitySampler(engine)
    meter = CpuMeter(server.proc.pid, current_backends(engine))
    sampler.start()
    try:
        kept, locust_totals = run_locust(server.base, config, classes, ARGS.users, tmp, name)
    finally:
        database = sampler.stop()
    cpu = meter.stop(sampler.pids | current_backends(engine))
    if server.proc.poll() is not None:
        raise RuntimeError(f"the web process exited ({server.proc.returncode}):\n{server.tail()}")
    actions = per_action(kept["samples"])
    saves_ok = actions.get("save", {}).get("ok", 0)
    writes = check_writes(engine, project_id, revisions_before, kept["acknowledged"])
    counted = {a: {"requests": r["n"], "failures": r["errors"]} for a, r in actions.items()}
    result = {
        "classes": classes,
        "users": ARGS.users,
        "users_by_class": kept["counters"].get("users", {}),
        "wait_s": list(wait),
        "duration_s": ARGS.duration,
        "actions": actions,
        "requests_per_s": round(len(kept["samples"]) / ARGS.duration, 1),
        "saves_per_s": round(saves_ok / ARGS.duration, 1),
        "save_retries_after_409": kept["counters"].get("save_retries", 0),
        "review_next_empty": kept["counters"].get("review_next_empty", 0),
        "server_errors_5xx": sum(r["server_errors_5xx"] for r in actions.values()),
        "errors": sum(r["errors"] for r in actions.values()),
        "first_errors": kept["errors"][:5],
        "writes": writes,
        "locust_stats_agree": counted == locust_totals,
        **({} if counted == locust_totals else {"locust_stats": locust_totals}),
        "database_activity": database,
        "cpu": cpu,
    }
    save = actions.get("save")
    log(
        f"  {name}: {len(kept['samples'])} requests, save p95 "
        f"{save['p95_ms'] if save else '-'} ms, {result['saves_per_s']} saves/s, "
        f"{result['errors']} errors, {result['server_errors_5xx']} 5xx, "
        f"{writes['lost_writes']} lost writes"
    )
    return result


# ---------------------------------------------------------------------------------------------
# A save by phase, in-process
# ---------------------------------------------------------------------------------------------


PHASES = [
    ("item_update", re.compile(r"^\s*UPDATE items\b")),
    ("revision_insert", re.compile(r"^\s*INSERT INTO item_revisions\b")),
    ("search_terms", re.compile(r"\bsearch_terms\b")),
    ("neardup_keys", re.compile(r"^\s*(INSERT|DELETE)\b.*\bneardup_keys\b", re.S)),
    ("audit_insert", re.compile(r"^\s*INSERT INTO audit_events\b")),
    ("reads", re.compile(r"^\s*SELECT\b")),
]


class StatementClock:
    """Time and rows of each statement a save issues, by phase (what table it writes)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.ms: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self._t0 = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.ms, self.rows = {}, {}

    def _before(self, *args) -> None:
        self._t0 = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        elapsed = (time.perf_counter() - self._t0) * 1000
        phase = next((name for name, pattern in PHASES if pattern.search(statement)), "other")
        self.ms[phase] = self.ms.get(phase, 0.0) + elapsed
        if not statement.lstrip().upper().startswith("SELECT") and cursor.rowcount > 0:
            self.rows[phase] = self.rows.get(phase, 0) + cursor.rowcount

    def sql_ms(self) -> float:
        return sum(self.ms.values())


def save_once(session_factory, clock: StatementClock | None, item_id: int, mark: str) -> dict:
    """``update_item`` plus commit as the item's author, with the output changed as the load
    test changes it; by phase when a clock is given."""
    with session_factory() as session:
        if clock:
            clock.reset()
        t0 = time.perf_counter()
        item = session.get(Item, item_id)
        editor = session.get(User, item.author_id)
        data = {f: getattr(item, f) for f in DRAFT_FIELDS}
        data["output"] = f"{item.output.split(' Edit ')[0]} Edit {mark}."
        item_service.update_item(
            session=session,
            item_id=item_id,
            draft=ItemDraft(**data),
            expected_version=item.version,
            editor=editor,
        )
        before_commit_sql = clock.sql_ms() if clock else 0.0
        t1 = time.perf_counter()
        session.commit()
        t2 = time.perf_counter()
    if clock is None:
        return {}
    flush_sql = clock.sql_ms() - before_commit_sql  # statements the commit's flush issued
    phases = {name: ms for name, ms in clock.ms.items()}
    phases["commit"] = (t2 - t1) * 1000 - flush_sql
    total = (t2 - t0) * 1000
    phases["python"] = total - clock.sql_ms() - phases["commit"]
    return {"total": total, "phases": phases, "rows": dict(clock.rows)}


def save_phases(engine, session_factory, project_id: int) -> dict[str, Any]:
    """Saves of items never edited (their first edit) against items edited once before, one
    at a time (no concurrency, so no lock waits): where a save's time goes."""
    n = ARGS.phase_saves
    with engine.connect() as conn:
        # The newest items: no Locust pool or review claim reached them.
        fresh = conn.scalars(
            select(Item.id)
            .where(Item.project_id == project_id, Item.version == 1, Item.status != "rejected")
            .order_by(Item.id.desc())
            .limit(2 * n + 1)
        ).all()
    if len(fresh) < 2 * n + 1:
        return {"skipped": f"fewer than {2 * n + 1} never-edited items"}
    warm, first_edit, edited = fresh[0], fresh[1 : n + 1], fresh[n + 1 :]
    save_once(session_factory, None, warm, "warm-up")
    for item_id in edited:
        save_once(session_factory, None, item_id, "first")
    clock = StatementClock(engine)
    try:
        groups = {
            "never_edited": [save_once(session_factory, clock, i, "timed") for i in first_edit],
            "edited_before": [save_once(session_factory, clock, i, "timed") for i in edited],
        }
    finally:
        clock.close()
    result = {}
    for name, saves in groups.items():
        phases = sorted({p for s in saves for p in s["phases"]})
        rows = sorted({p for s in saves for p in s["rows"]})
        result[name] = {
            **summary([s["total"] for s in saves]),
            "mean_ms_by_phase": {
                p: round(sum(s["phases"].get(p, 0.0) for s in saves) / len(saves), 2)
                for p in phases
            },
            "mean_rows_written_by_phase": {
                p: round(sum(s["rows"].get(p, 0) for s in saves) / len(saves), 1) for p in rows
            },
        }
    return result


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


NOTES = [
    "Latencies are Locust's (FastHttpUser), client-observed over loopback, every request "
    "counted (409s included); p50/p95 are computed from every request's time, not from "
    "Locust's rounded percentiles. Locust, the two web workers and PostgreSQL share the "
    "machine's CPUs: cpu says how much each used, in cores.",
    "errors: answers neither 2xx nor 409, or none at all; conflicts_409: a save that met a "
    "newer version (the annotator re-reads and tries once more: save_retries_after_409) or a "
    "decision on a version the author changed meanwhile (not retried).",
    "writes.lost_writes: acknowledged saves (2xx, the item id and version answered) without "
    "their revision row among those written during the run; revisions_equal_saves: the rows "
    "written during the run are exactly as many as the saves acknowledged; "
    "items_whose_version_does_not_add_up: items whose version is not their revision count "
    "plus their review decisions (each decision changes the status and bumps the version "
    "without a revision).",
    "database_activity: pg_stat_activity sampled every 50 ms during the run; "
    "running_statements_by_wait is the share of running statements seen waiting on each wait "
    "type (Lock: a row or transaction lock held by another transaction; none: on CPU); "
    "mean_backends_idle_in_transaction is transactions open while the app works between "
    "statements.",
    "save_breakdown.in_process: update_item plus commit in this process, one save at a time "
    "(no HTTP, authentication or JSON, and no concurrency); each statement's time by the "
    "table it writes, commit (the COMMIT itself, statements its flush issued excluded) and "
    "python (the rest: ORM, validation, indexing in Python). never_edited is an item's first "
    "edit since seeding, edited_before an item edited once before.",
    "locust_stats_agree: the counts computed here match Locust's own final statistics.",
    "connection_floor: /healthz one at a time before the runs, on one kept-alive connection "
    "and on a new connection each time. Kept-alive about 40 ms slower than new connections "
    "means the web workers' sockets lack TCP_NODELAY: every answer after a connection's first "
    "then waits for the client's delayed ACK, and every latency above includes that wait.",
]


def budget_row(paced: dict | None) -> dict[str, Any]:
    at_budget = ARGS.users == BUDGET_USERS and ARGS.items >= BUDGET_ITEMS
    p95 = (paced or {}).get("actions", {}).get("save", {}).get("p95_ms")
    row = {
        "budget": f"save p95 < {BUDGET_MS:g} ms with {BUDGET_USERS} users each saving every "
        f"0.5-1.5 s, at {BUDGET_ITEMS:,} items",
        "value": p95,
        "met": p95 is not None and p95 < BUDGET_MS,
        "at_budget_conditions": at_budget,
    }
    if not at_budget:
        row["note"] = f"this run: {ARGS.users} users, {ARGS.items:,} items, wait {ARGS.wait} s"
    return row


def run() -> dict[str, Any]:
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "load",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "config": {
            "items": ARGS.items,
            "users": ARGS.users,
            "duration_s": ARGS.duration,
            "wait_s": list(ARGS.wait),
            "runs": ARGS.runs,
            "pool_per_annotator": ARGS.pool,
            "web_workers": ARGS.workers,
            "locust": LOCUST_VERSION,
            "mix_paced": "Annotator 3 : Reviewer 1 : Reader 1 (Locust weights)",
            "search_words": SEARCH_WORDS,
        },
        "notes": NOTES,
    }
    ensure_locust()
    # make_people reads the number of annotators from bench/items.py's arguments.
    item_bench.ARGS = argparse.Namespace(users=ARGS.users, explain=False)
    with tempfile.TemporaryDirectory(prefix="studio-load-") as tmp, fresh_database(log) as url:
        tmp_path = Path(tmp)
        migrate.upgrade(url)
        engine = make_engine(url)
        session_factory = make_session_factory(engine)
        with engine.connect() as conn:
            report["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar()
        project, reviewer_token, people = make_people(session_factory)
        reviewers = [reviewer_token, *add_reviewers(session_factory, project.id, ARGS.users // 5)]
        seeder = Seeder(engine, project, [user for user, _ in people])
        server = None
        try:
            log(f"seeding {ARGS.items:,} items")
            report["seed"] = seeder.grow_to(ARGS.items)
            seeder.close()
            config = locust_config(engine, project.id, people, reviewers)
            server = Server(url, tmp_path, workers=ARGS.workers)
            report["connection_floor"] = connection_floor(server.base)
            log(
                "healthz p50: kept-alive "
                f"{report['connection_floor']['healthz_kept_alive']['p50_ms']} ms, new connection "
                f"{report['connection_floor']['healthz_new_connection']['p50_ms']} ms"
            )
            runs: dict[str, Any] = {}
            if "paced" in ARGS.runs:
                runs["paced"] = run_once(
                    "paced",
                    ["Annotator", "Reviewer", "Reader"],
                    ARGS.wait,
                    server,
                    engine,
                    project.id,
                    config,
                    tmp_path,
                )
            if "back_to_back" in ARGS.runs:
                runs["back_to_back"] = run_once(
                    "back_to_back",
                    ["Annotator"],
                    (0.0, 0.0),
                    server,
                    engine,
                    project.id,
                    config,
                    tmp_path,
                )
                log(f"in-process saves by phase ({ARGS.phase_saves} of each kind)")
                burst = runs["back_to_back"]
                report["save_breakdown"] = {
                    "saves_per_s_back_to_back": burst["saves_per_s"],
                    "save_p95_ms_back_to_back": burst["actions"].get("save", {}).get("p95_ms"),
                    "lock_waits_back_to_back": burst["database_activity"],
                    "cpu_back_to_back": burst["cpu"],
                    "in_process": save_phases(engine, session_factory, project.id),
                }
        except BaseException:
            if server is not None:
                log(f"server log tail:\n{server.tail()}")
            raise
        finally:
            if server is not None:
                server.stop()
            seeder.close()
            engine.dispose()
    report["runs"] = runs
    report["server_errors_5xx"] = sum(r["server_errors_5xx"] for r in runs.values())
    report["errors"] = sum(r["errors"] for r in runs.values())
    report["lost_writes"] = sum(r["writes"]["lost_writes"] for r in runs.values())
    report["items_whose_version_does_not_add_up"] = max(
        (r["writes"]["items_whose_version_does_not_add_up"] or 0 for r in runs.values()),
        default=0,
    )
    report["budgets"] = [budget_row(runs.get("paced"))]
    report["checks"] = {
        "no_5xx": report["server_errors_5xx"] == 0,
        "no_lost_writes": report["lost_writes"] == 0,
        "versions_add_up": report["items_whose_version_does_not_add_up"] == 0,
        "revisions_equal_saves": all(r["writes"]["revisions_equal_saves"] for r in runs.values()),
    }
    report["all_checks_passed"] = all(report["checks"].values())
    report["total_s"] = round(time.perf_counter() - started, 1)
    return report


def _duration(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*(s|m)?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError("a duration like 60s, 90 or 2m")
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def _wait(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return (float(low), float(high or low))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="items seeded (100000)")
    parser.add_argument("--users", type=int, default=20, help="Locust users per run (20)")
    parser.add_argument("--duration", type=_duration, default=60, help="per run: 60s, 2m (60s)")
    parser.add_argument(
        "--wait", type=_wait, default=(0.5, 1.5), help="think time of the paced run, s (0.5-1.5)"
    )
    parser.add_argument(
        "--runs",
        type=lambda s: s.split(","),
        default=["paced", "back_to_back"],
        help="paced,back_to_back (both)",
    )
    parser.add_argument("--workers", type=int, default=2, help="web processes (2)")
    parser.add_argument("--rate", type=float, default=None, help="users started per s (all in 1 s)")
    parser.add_argument("--pool", type=int, default=50, help="items each annotator edits (50)")
    parser.add_argument(
        "--phase-saves", type=int, default=30, help="in-process saves of each kind timed (30)"
    )
    args = parser.parse_args(argv)
    if unknown := set(args.runs) - {"paced", "back_to_back"}:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    if args.users < 1 or args.duration < 1 or args.items < args.users:
        parser.error("need at least one user, a duration, and as many items as users")
    return args


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    global ARGS
    ARGS = parse_args()
    # A SIGTERM unwinds like Ctrl-C, so Locust and the server stop and the database is dropped.
    signal.signal(signal.SIGTERM, _interrupt)
    reason = postgres_unavailable()
    if reason:
        log(f"skipped: {reason}")
        print(json.dumps({"benchmark": "load", "skipped": reason}))
        return 0
    report = run()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


ARGS: argparse.Namespace

if __name__ == "__main__":
    sys.exit(main())
