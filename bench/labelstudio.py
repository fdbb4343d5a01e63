"""Label Studio 1.23.2, design §7's reference, measured on the same Alpaca rows as our benchmarks,
in the same run, on the same machine: import, export, the data manager's first page and search.

Prints one JSON object on stdout (progress goes to stderr). No budget is checked here: these
are the figures ours are compared with (``measure`` is what another benchmark calls).

What it does: installs Label Studio into its own virtual environment, ``bench/.venv-labelstudio``
(``pip install label-studio==1.23.2`` on first use: about 1 GB and several minutes; when that
fails, e.g. offline, the report is ``{"skipped": "<why>"}``), starts ``label-studio start``
from it on a free loopback port (Django's threaded development server, which is what that
command runs, with SQLite, its default, under the work folder; the user and a legacy API token
are created by the command's own flags; analytics, the version check and Sentry off), then,
over loopback HTTP with httpx (keep-alive):

1. creates a project with a labeling config showing instruction, input and output and a
   TextArea for the answer;
2. **import**: one ``POST /api/projects/{id}/import`` with a JSON list of ``{"data": row}``
   (the body is encoded before the clock starts), timed until the project's task count is the
   row count; if LS refuses one request that large, a fresh project gets the rows in chunks
   of 10,000 and the report says so;
3. **export**: ``GET /api/projects/{id}/export?exportType=JSON&download_all_tasks=true``, the
   synchronous export, streamed to a file until its last byte (then its tasks are counted);
4. **task list** (``reads.first_page``): the data manager's first page as its frontend asks
   for it, ``GET /api/tasks?page=1&page_size=30&view=<tab>&project=<id>`` on a default tab
   (created as the frontend creates one), warm-up requests, then ``--requests`` timed ones;
5. **search** (``reads.<label>``): for each word, the tab's filters set (``PATCH
   /api/dm/views/{tab}``) to "data.instruction, data.input or data.output contains <word>"
   (LS: ``icontains``, a substring), then the first page as above with
   ``interaction=filter``, timed the same way, with the ``total`` LS reports next to the rows
   of the file that contain the word;

and stops the server, also on failure or Ctrl-C/SIGTERM, after reading its peak RSS.

    .venv/bin/python bench/labelstudio.py                          # 100k generated rows
    .venv/bin/python bench/labelstudio.py --rows 2000 --requests 20
    .venv/bin/python bench/labelstudio.py --rows-file rows.jsonl --words 1%=foo,5%=bar --work DIR
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# As in bench/datasets.py: this folder must not shadow the `datasets` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench import labelstudio_api as api  # noqa: E402
from bench.labelstudio_api import log  # noqa: E402
from bench.search_words import (  # noqa: E402, F401  (pick_words, word_counts: re-exported)
    FIELDS,
    count_containing,
    pick_words,
    read_rows,
    word_counts,
)

PAGE_SIZE = 30  # the data manager's default page size (its frontend's `pageSize`)
WARMUP = 5
CHUNK_ROWS = 10_000
IMPORT_WAIT_S = 1800


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def summary(ms: list[float]) -> dict[str, float]:
    """As ``bench/items.py`` reports a series."""
    ordered = sorted(ms)
    p95 = statistics.quantiles(ordered, n=100, method="inclusive")[94] if len(ms) > 1 else ms[0]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "max_ms": round(ordered[-1], 2),
    }


def time_first_page(client: api.Client, params: dict, n: int) -> tuple[dict, dict]:
    """Warm up, then time ``n`` sequential GETs of ``/api/tasks``; (summary, last JSON)."""
    for _ in range(WARMUP):
        client.http.get("/api/tasks", params=params).raise_for_status()
    times, body = [], {}
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.http.get("/api/tasks", params=params)
        times.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        body = response.json()
    return summary(times), body


def _encode(rows: list[dict[str, str]]) -> bytes:
    return json.dumps([{"data": row} for row in rows], ensure_ascii=False).encode()


def _wait_for_tasks(client: api.Client, project_id: int, expected: int) -> int:
    """Polls the task count until it reaches ``expected`` (LS's community edition imports in
    the request; this also covers an import that goes on in the background)."""
    deadline = time.monotonic() + IMPORT_WAIT_S
    while (count := client.task_count(project_id)) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"LS stored {count} of {expected} tasks in {IMPORT_WAIT_S} s")
        time.sleep(0.5)
    return count


def measure_import(client: api.Client, rows: list[dict[str, str]]) -> tuple[int, dict]:
    """(project id, report): one request with every row, or chunks when LS refuses it."""
    project_id = client.create_project("Instruction data")
    body = _encode(rows)
    log(f"import: one request, {len(rows):,} tasks, {len(body) / 2**20:.1f} MiB")
    report: dict[str, Any] = {"endpoint": "POST /api/projects/{id}/import", "tasks": len(rows)}
    t0 = time.perf_counter()
    try:
        response = client.import_tasks(project_id, body)
        refused = None if response.is_success else f"{response.status_code}: {response.text[:300]}"
    except httpx.HTTPError as exc:  # e.g. the connection closed on a body over its limit
        refused = f"{type(exc).__name__}: {exc}"
    if refused is None:
        stored = _wait_for_tasks(client, project_id, len(rows))
        seconds = time.perf_counter() - t0
        report["requests"] = 1
        report["body_mib"] = round(len(body) / 2**20, 1)
        report["server_reported_s"] = round(response.json().get("duration", 0.0), 2)
    else:
        log(f"import: the single request was refused ({refused[:120]}); chunks of {CHUNK_ROWS:,}")
        project_id = client.create_project("Instruction data (chunks)")
        bodies = [_encode(rows[i : i + CHUNK_ROWS]) for i in range(0, len(rows), CHUNK_ROWS)]
        del body
        t0 = time.perf_counter()
        for part in bodies:
            client.import_tasks(project_id, part).raise_for_status()
        stored = _wait_for_tasks(client, project_id, len(rows))
        seconds = time.perf_counter() - t0
        report["single_request_refused"] = refused
        report["requests"] = len(bodies)
        report["chunk_rows"] = CHUNK_ROWS
    report["tasks_stored"] = stored
    report["seconds"] = round(seconds, 2)
    report["items_per_s"] = round(len(rows) / seconds, 1)
    return project_id, report


def measure_export(client: api.Client, project_id: int, expected: int, work: Path) -> dict:
    path = work / "labelstudio-export.json"
    log(f"export: {expected:,} tasks, synchronous JSON")
    t0 = time.perf_counter()
    size = client.export_to(project_id, path)
    seconds = time.perf_counter() - t0
    with path.open(encoding="utf-8") as f:
        exported = len(json.load(f))
    path.unlink()
    if exported != expected:
        raise RuntimeError(f"LS exported {exported} tasks of {expected}")
    return {
        "endpoint": "GET /api/projects/{id}/export?exportType=JSON&download_all_tasks=true",
        "tasks": exported,
        "bytes": size,
        "seconds": round(seconds, 2),
        "items_per_s": round(exported / seconds, 1),
    }


def measure_pages(
    client: api.Client, project_id: int, words: Mapping[str, str], expected: dict, n: int
) -> dict:
    """The data manager's first page (``first_page``), then each word's (by its label), on its
    default tab: the report's ``reads``, labelled as ``bench/peers.py`` labels its own."""
    view_id = client.create_view(project_id)
    params = {"page": 1, "page_size": PAGE_SIZE, "view": view_id, "project": project_id}
    log(f"task list: first page x {n}")
    timing, body = time_first_page(client, params, n)
    reads: dict[str, Any] = {}
    reads["first_page"] = {
        "endpoint": "GET /api/tasks?page=1&page_size=30&view={tab}&project={id}",
        "page_size": PAGE_SIZE,
        "warmup_requests": WARMUP,
        "total": body.get("total"),
        "tasks_on_page": len(body.get("tasks", [])),
        **timing,
    }
    for label, word in words.items():
        log(f"search {label}: {word!r} x {n}")
        t0 = time.perf_counter()
        client.set_filters(project_id, view_id, api.contains_any_field(word, FIELDS))
        set_ms = (time.perf_counter() - t0) * 1000
        timing, body = time_first_page(client, {**params, "interaction": "filter"}, n)
        reads[label] = {
            "word": word,
            "expected_rows": expected[label],
            "total": body.get("total"),
            "totals_agree": body.get("total") == expected[label],
            "tasks_on_page": len(body.get("tasks", [])),
            "set_filter_ms": round(set_ms, 2),
            **timing,
        }
    client.set_filters(project_id, view_id, None)
    return reads


# ---------------------------------------------------------------------------------------------
# The whole measurement
# ---------------------------------------------------------------------------------------------


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """A SIGTERM unwinds like Ctrl-C (so the server is stopped), unless the caller already
    handles SIGTERM or this is not the main thread (where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(
        signal.SIGTERM
    ) not in (signal.SIG_DFL, None):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(rows_path: Path, words: dict[str, str], work: Path, *, requests: int = 50) -> dict:
    """Label Studio's import, export, first page and search (one per word of ``words``, label ->
    word) on the rows of ``rows_path``, with its server and data under ``work``; the report, or
    ``{"skipped": why}`` when Label Studio cannot be installed."""
    work.mkdir(parents=True, exist_ok=True)
    reason = api.ensure_installed(work / "labelstudio-pip.log")
    if reason:
        log(f"skipped: {reason}")
        return {"skipped": reason}
    if "first_page" in words:
        raise ValueError('"first_page" labels the unfiltered page; give the word another label')
    rows = read_rows(rows_path)
    expected = count_containing(rows, words)
    data_dir = work / "labelstudio-data"
    shutil.rmtree(data_dir, ignore_errors=True)  # a fresh database each run
    report: dict[str, Any] = {
        "system": "Label Studio",
        "rows": len(rows),
        "rows_file": str(rows_path),
        "requests": requests,
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": _load()},
    }
    with _sigterm_unwinds():
        log(f"starting label-studio {api.LS_VERSION} (data in {data_dir})")
        server = api.Server(data_dir, work / "labelstudio-server.log")
        client = None
        try:
            client = api.Client(server.base)
            report["version"] = client.version()
            report["server"] = {
                "command": "label-studio start (Django runserver, threaded, --noreload)",
                "database": "SQLite (LS default)",
                "data_dir": str(data_dir),
                "environment": api.QUIET_ENV,
                "startup_s": server.startup_s,
                "rss_after_start_mb": server.memory_mb()["VmRSS"],
            }
            project_id, report["import"] = measure_import(client, rows)
            report["export"] = measure_export(client, project_id, len(rows), work)
            report["reads"] = measure_pages(client, project_id, words, expected, requests)
            search_template = api.contains_any_field("<word>", FIELDS)
            report["search_request"] = {
                "set": "PATCH /api/dm/views/{tab} with data.filters",
                "filters": search_template,
                "then": "GET /api/tasks?page=1&page_size=30&view={tab}&project={id}"
                "&interaction=filter",
            }
            time.sleep(2)  # idle, as bench/items.py reads its server's memory
        finally:
            if client is not None:
                client.close()
            memory = server.memory_mb()
            report["memory"] = {"rss_at_end_mb": memory["VmRSS"], "peak_rss_mb": memory["VmHWM"]}
            server.stop()
            log("label-studio stopped")
    report["machine"]["load_average_at_end"] = _load()
    report["machine"]["platform"] = platform.platform()
    return report


def parse_words(text: str) -> dict[str, str]:
    """``0.1%=foo,1%=bar`` -> {"0.1%": "foo", "1%": "bar"}."""
    words = {}
    for part in filter(None, text.split(",")):
        label, sep, word = part.partition("=")
        if not sep or not word:
            raise argparse.ArgumentTypeError(f"expected LABEL=WORD, got {part!r}")
        words[label.strip()] = word.strip()
    return words


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows-file", type=Path, help="Alpaca JSONL (default: generated)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows generated without a file")
    parser.add_argument("--words", type=parse_words, help="LABEL=WORD,... (default: picked)")
    parser.add_argument("--work", type=Path, help="server data and logs (default: a temp dir)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        rows_file = args.rows_file
        if rows_file is None:
            from bench.datasets import write_alpaca

            rows_file = work / f"alpaca-{args.rows}.jsonl"
            log(f"writing {args.rows:,} rows to {rows_file}")
            write_alpaca(rows_file, args.rows)
        words = args.words or pick_words(rows_file)
        log(f"search words: {words}")
        report = {
            "benchmark": "labelstudio",
            **measure(rows_file, words, work, requests=args.requests),
        }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
