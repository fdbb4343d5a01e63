"""Import and export throughput on PostgreSQL against the raw floor, and export peak memory.

Prints one JSON object on stdout (progress goes to stderr). Design §7 budgets, checked here:

- import: at least 20,000 items/s for parse, validate, insert and revisions (the full-text
  index follows in the pass below), through the same service the UI uses
  (``imports.store_upload``, then ``imports.run`` with default options and a commit per batch,
  as the import task, ``app.imports.task``, does);
- the follow-up pass (``indexer.index_imported``: search terms and near-duplicate keys): at
  least 2,000 items/s;
- streaming export (``export.write_folder``), each format: at least 50,000 items/s, with peak
  memory at 100k items no more than 1.2x the peak at 10k.

What it does: creates a fresh database on the local server (``STUDIO_BENCH_PG_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``), migrates it, and writes a
deterministic Alpaca JSONL file (``random.Random(0)``, English and ~30% Chinese, 20-120 words a
row, 1% near-copies). It then measures, in this order:

1. the raw insert floor: the file's lines ``json.loads``-ed and written with one bare psycopg
   ``executemany`` INSERT into a scratch table with the same three text columns;
2. the import of the file into one project (``run_sql_s``: time inside the driver's execute);
3. the near-duplicate pass;
4. one bulk UPDATE to ``approved``, one tagging the first ``--small`` items, VACUUM ANALYZE, and
   ``freezing.create_version`` (the freeze) of all items and of the tagged ones (when it fails
   on PostgreSQL's 65,535-parameter limit, the report says so and the bench freezes again with
   a workaround, see :func:`freeze`);
5. the export of each version in each format, each run in a fresh subprocess (time, and the
   peak RSS of the export: VmHWM after resetting it through ``/proc/self/clear_refs``), and the
   raw export floor: a bare server-side-cursor ``SELECT`` of the same pinned snapshots, in the
   same order, with ``json.dumps`` per row to a file, also in a subprocess; then the parts of
   an export alone (reading the snapshots, building the rows), to show where its time goes.

The database is dropped at the end, also on failure, Ctrl-C or SIGTERM.

    .venv/bin/python bench/datasets.py                            # full run (100k and 10k)
    .venv/bin/python bench/datasets.py --rows 5000 --small 1000   # quick run (about a minute)
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder is sys.path[0], where this file would shadow the `datasets`
# package (Hugging Face) for anything that imports it; the project root replaces it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import migrate  # noqa: E402
from app.core.formats import writers  # noqa: E402
from app.datasets import export, freezing, versions  # noqa: E402
from app.db import begin_for_write, make_engine, make_session_factory  # noqa: E402
from app.imports import indexer  # noqa: E402
from app.imports import service as imports  # noqa: E402
from app.imports.reader import ImportOptions  # noqa: E402
from app.models import Item, NearDupKey, Project, SearchTerm, User  # noqa: E402
from app.projects import service as project_service  # noqa: E402
from app.users import service as user_service  # noqa: E402
from bench.pg import fresh_database, libpq_url, postgres_unavailable  # noqa: E402

BUDGET_IMPORT = 20_000
BUDGET_NEARDUP = 2_000
BUDGET_EXPORT = 50_000
BUDGET_MEMORY_RATIO = 1.2
FLOOR_FETCH = 1000  # rows per round trip of the floor's server-side cursor (the export's chunk)
# Parts of an export, each run alone on the large version to show where its time goes.
EXPORT_STAGES = ("read", "rows")
ZH_SHARE = 0.3
SMALL_TAG = "bench-small"
NEAR_COPY_SHARE = 0.01

# ---------------------------------------------------------------------------------------------
# Deterministic Alpaca rows
# ---------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


EN_VOCAB = _words(
    "the a of to and in is for that it with as on be this are by from or have an can at not "
    "you your will should each more about which their one all when use make how them also some "
    "time people data first would into other these two may like new way most over only just "
    "work many such good well after where what used before because while through between "
    "team project customer product review movie book city travel health diet exercise budget "
    "meeting deadline weather ocean forest mountain river history science music art game story "
    "poem email letter essay report recipe plan table code function bug test server database "
    "query error message user account password security network system design language model "
    "training dataset sentence paragraph summary answer question reason example step method "
    "result effect cause problem solution idea argument evidence claim source article news "
    "market price cost sales growth company manager employee student teacher school course "
    "lesson exam grade library museum park garden kitchen restaurant hotel airport train bus "
    "car bicycle road bridge building house room window door light energy water food coffee "
    "tea bread fruit vegetable animal bird fish dog cat tree flower season summer winter spring "
    "autumn morning evening night week month year century child parent friend family doctor "
    "patient hospital medicine disease symptom treatment research experiment theory planet "
    "star galaxy climate carbon policy government election law court contract risk strategy "
    "goal metric feedback survey interview schedule calendar invoice shipping delivery order "
    "refund complaint support ticket release feature version update install configure deploy "
    "monitor alert backup restore migrate upgrade clearly briefly carefully quickly simple "
    "complex important useful common rare formal casual friendly polite short long detailed "
    "concise accurate creative practical modern ancient global local digital physical"
)
ZH_VOCAB = _words(
    "数据 模型 训练 翻译 总结 文章 问题 回答 用户 产品 学生 老师 城市 旅游 健康 饮食 运动 预算 "
    "会议 团队 项目 天气 海洋 森林 历史 科学 音乐 艺术 游戏 代码 函数 错误 客户 电影 书籍 经济 "
    "市场 分析 报告 计划 邮件 故事 诗歌 描述 比较 分类 列出 解释 简短 详细 重要 方法 步骤 建议 "
    "原因 结果 影响 环境 社会 文化 教育 技术 网络 安全 系统 设计 语言 中文 英文 句子 段落 标题 "
    "关键词 摘要 人工智能 深度学习 自然语言 数据库 云端 价格 成本 销售 公司 经理 员工 学校 课程 "
    "考试 图书馆 博物馆 公园 厨房 餐厅 酒店 火车 公交 道路 建筑 房间 能源 咖啡 面包 水果 蔬菜 "
    "动物 春天 夏天 秋天 冬天 早上 晚上 朋友 家庭 医生 医院 研究 实验 理论 气候 政策 政府 法律 "
    "合同 风险 策略 目标 反馈 调查 采访 日程 订单 退款 投诉 支持 版本 更新 部署 监控 备份 我们 "
    "你们 他们 这个 那个 一些 所有 每个 可以 应该 需要 使用 提供 帮助 了解 进行 通过 因为 所以 "
    "但是 如果 然后 已经 非常 更加 简单 复杂 常见 正式 友好 礼貌 准确 实用 现代 传统 全球 本地 的"
)
EN_VERBS = ["Write", "Explain", "Summarize", "List", "Describe", "Compare", "Classify", "Rewrite"]
ZH_VERBS = ["写", "解释", "总结", "列出", "描述", "比较", "分类", "改写"]


class AlpacaGenerator:
    """Alpaca rows (instruction, input, output) from ``random.Random(seed)``: 20-120 words in
    all, ~30% Chinese, half with an input, 1% near-copies of an earlier row (one word changed)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.en_cum = _zipf_cum(len(EN_VOCAB))
        self.zh_cum = _zipf_cum(len(ZH_VOCAB))
        self.recent: list[dict[str, str]] = []

    def text(self, zh: bool, words: int) -> str:
        rng, out, left = self.rng, [], words
        while left > 0:
            n = min(left, rng.randint(5, 15))
            if zh:
                chosen = rng.choices(ZH_VOCAB, cum_weights=self.zh_cum, k=n)
                out.append("".join(chosen) + rng.choice("。。。，？！"))
            else:
                chosen = rng.choices(EN_VOCAB, cum_weights=self.en_cum, k=n)
                out.append(" ".join(chosen).capitalize() + rng.choice("....?!"))
            left -= n
        return ("" if zh else " ").join(out)

    def row(self) -> dict[str, str]:
        rng = self.rng
        if self.recent and rng.random() < NEAR_COPY_SHARE:
            source = rng.choice(self.recent)
            words = source["output"].split(" ")
            if len(words) > 3:  # English: one word replaced
                words[rng.randrange(len(words))] = rng.choice(EN_VOCAB)
                return {**source, "output": " ".join(words)}
            text = source["output"]  # Chinese: two characters replaced
            i = rng.randrange(max(1, len(text) - 2))
            return {**source, "output": text[:i] + rng.choice(ZH_VOCAB) + text[i + 2 :]}
        zh = rng.random() < ZH_SHARE
        total = rng.randint(20, 120)
        n_instruction = rng.randint(4, 20)
        n_input = rng.randint(5, max(5, (total - n_instruction) // 2)) if rng.random() < 0.5 else 0
        n_output = max(5, total - n_instruction - n_input)
        verb = rng.choice(ZH_VERBS if zh else EN_VERBS)
        row = {
            "instruction": verb + ("" if zh else " ") + self.text(zh, n_instruction),
            "input": self.text(zh, n_input) if n_input else "",
            "output": self.text(zh, n_output),
        }
        if len(self.recent) < 200:
            self.recent.append(row)
        elif rng.random() < 0.05:
            self.recent[rng.randrange(200)] = row
        return row


def _zipf_cum(n: int) -> list[float]:
    total, cum = 0.0, []
    for rank in range(n):
        total += 1.0 / (rank + 1)
        cum.append(total)
    return cum


def write_alpaca(path: Path, rows: int) -> dict[str, Any]:
    gen = AlpacaGenerator(0)
    words = zh = 0
    with path.open("w", encoding="utf-8") as f:
        for _ in range(rows):
            row = gen.row()
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            text = " ".join(row.values())
            if any("\u4e00" <= ch <= "\u9fff" for ch in row["instruction"][:4]):
                zh += 1
            words += len(text.split())
    return {
        "rows": rows,
        "bytes": path.stat().st_size,
        "chinese_share": round(zh / rows, 3),
        "mean_space_separated_tokens": round(words / rows, 1),
    }


# ---------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench/datasets {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def maintenance(engine: sa.Engine, sql: str) -> float:
    """Run VACUUM/CHECKPOINT outside a transaction; returns the seconds it took."""
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(sql))
    return round(time.perf_counter() - t0, 2)


class SqlClock:
    """Time spent inside the driver's execute (statements and their round trips)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.seconds = 0.0
        self.statements = 0
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *args) -> None:
        self._started.append(time.perf_counter())

    def _after(self, *args) -> None:
        self.seconds += time.perf_counter() - self._started.pop()
        self.statements += 1

    def reset(self) -> tuple[float, int]:
        seconds, statements = self.seconds, self.statements
        self.seconds, self.statements = 0.0, 0
        return round(seconds, 2), statements


def make_people(session_factory) -> tuple[int, int]:
    """An admin and a project: (admin id, project id)."""
    with session_factory() as session:
        admin = user_service.create_user(
            session=session, email="admin@bench.test", role="admin", password="x" * 16, actor=None
        )
        project = project_service.create_project(
            session=session, data=project_service.ProjectInput(name="Bench import"), actor=admin
        )
        session.commit()
        return admin.id, project.id


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def floor_insert(url: str, path: Path) -> dict[str, Any]:
    """The raw floor: parse the lines, then one bare ``executemany`` INSERT and a commit."""
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(
            "CREATE TABLE bench_floor (id bigserial PRIMARY KEY, instruction text NOT NULL, "
            "input text NOT NULL, output text NOT NULL)"
        )
        conn.commit()
        t0 = time.perf_counter()
        with path.open("rb") as f:
            parsed = [json.loads(line) for line in f]
        rows = [(r["instruction"], r["input"], r["output"]) for r in parsed]
        t1 = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_floor (instruction, input, output) VALUES (%s, %s, %s)", rows
            )
        conn.commit()
        t2 = time.perf_counter()
        conn.execute("DROP TABLE bench_floor")
        conn.commit()
    n = len(rows)
    return {
        "rows": n,
        "parse_s": round(t1 - t0, 2),
        "executemany_s": round(t2 - t1, 2),
        "seconds": round(t2 - t0, 2),
        "items_per_s": round(n / (t2 - t0)),
        "executemany_items_per_s": round(n / (t2 - t1)),
    }


# Foreign keys of the tables the import writes, as the migrations declare them (LIKE copies
# indexes and checks, not these).
_FOREIGN_KEYS = {
    "items": [
        "FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE",
        "FOREIGN KEY (author_id) REFERENCES users (id) ON DELETE SET NULL",
        "FOREIGN KEY (priority_reviewer_id) REFERENCES users (id) ON DELETE SET NULL",
        "FOREIGN KEY (lease_by) REFERENCES users (id) ON DELETE SET NULL",
    ],
    "item_revisions": [
        "FOREIGN KEY (item_id) REFERENCES bench_items (id) ON DELETE CASCADE",
        "FOREIGN KEY (editor_id) REFERENCES users (id) ON DELETE SET NULL",
    ],
    "search_terms": [],
}


def server_write_floor(url: str, items: int) -> dict[str, Any]:
    """What the server alone spends storing what the import wrote: its items, first revisions
    and search terms, copied server-side in the import's 2,000-item batches into empty copies
    of the three tables (same indexes, checks and foreign keys). No client, no parsing, no
    network: a ceiling for any import that writes these rows."""
    tables = ("items", "item_revisions", "search_terms")
    # Where each batch is read from, by item: search terms have no index by item, so a copy
    # clustered by item is made first (not timed).
    source = {"items": ("items", "id"), "item_revisions": ("item_revisions", "item_id")}
    source["search_terms"] = ("bench_source", "item_id")
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("CREATE TABLE bench_source AS SELECT * FROM search_terms ORDER BY item_id")
        conn.execute("CREATE INDEX ON bench_source (item_id)")
        for name in tables:
            conn.execute(f"CREATE TABLE bench_{name} (LIKE {name} INCLUDING ALL)")
            for key in _FOREIGN_KEYS[name]:
                conn.execute(f"ALTER TABLE bench_{name} ADD {key}")
        conn.commit()
        low, high = conn.execute("SELECT min(id), max(id) FROM items").fetchone()
        seconds: dict[str, float] = {}
        for name in tables:
            table, column = source[name]
            # In the order the import writes them: terms sorted, the rest by id.
            order = "term, item_id" if name == "search_terms" else column
            conn.execute("CHECKPOINT")
            t0 = time.perf_counter()
            for start in range(low, high + 1, 2000):
                conn.execute(
                    f"INSERT INTO bench_{name} SELECT * FROM {table} WHERE {column} >= %s "
                    f"AND {column} < %s ORDER BY {order}",
                    (start, start + 2000),
                )
            conn.commit()
            seconds[name] = time.perf_counter() - t0
        for name in ("source", *reversed(tables)):
            conn.execute(f"DROP TABLE bench_{name}")
        conn.commit()
    total = sum(seconds.values())
    return {
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
        "total_s": round(total, 2),
        "items_per_s": round(items / total),
        "without_search_index_items_per_s": round(
            items / (seconds["items"] + seconds["item_revisions"])
        ),
    }


def import_file(
    session_factory,
    clock: SqlClock,
    path: Path,
    folder: Path,
    admin_id: int,
    project_id: int,
    profiles: Profiles,
) -> dict[str, Any]:
    """Upload, import and index one file the way the UI does (two requests, then the runner)."""
    with session_factory() as session:  # POST /projects/{id}/imports
        begin_for_write(session)
        actor = session.get(User, admin_id)
        project = session.get(Project, project_id)
        clock.reset()
        t0 = time.perf_counter()
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
        t1 = time.perf_counter()
        job_id = job.id
    seen: dict[str, tuple[int, int]] = {}

    def progress(phase: str, done: int, total: int) -> None:
        seen[phase] = (done, total)

    with session_factory() as session:  # as the import task runs it: a commit per batch
        begin_for_write(session)
        actor = session.get(User, admin_id)

        def commit(_tally, phase: str, done: int, total: int) -> None:
            progress(phase, done, total)
            session.commit()
            begin_for_write(session)

        clock.reset()
        t2 = time.perf_counter()
        with profiles("import_run"):
            job = imports.run(
                session=session,
                job_id=job_id,
                options=ImportOptions(),
                actor=actor,
                progress=progress,
                commit=commit,
            )
            session.commit()
        t3 = time.perf_counter()
        run_sql = clock.reset()
        assert job.state == "done", job.message
        created, skipped, total = job.created_items, job.skipped_duplicates, job.rows_total
        begin_for_write(session)
        t4 = time.perf_counter()
        with profiles("index_pass"):

            def commit_pass(_state, phase: str, done: int, total: int) -> None:
                progress(phase, done, total)
                session.commit()
                begin_for_write(session)

            indexed = indexer.index_imported(session=session, job=job, commit=commit_pass)
            session.commit()
        t5 = time.perf_counter()
        pass_sql = clock.reset()
        terms = session.scalar(
            sa.select(sa.func.count())
            .select_from(SearchTerm)
            .join(Item, Item.id == SearchTerm.item_id)
            .where(Item.project_id == project_id)
        )
        keys = session.scalar(
            sa.select(sa.func.count())
            .select_from(NearDupKey)
            .where(NearDupKey.project_id == project_id)
        )
    return {
        "rows": total,
        "created": created,
        "skipped_duplicates": skipped,
        "search_terms": terms,
        "search_terms_per_item": round(terms / max(created, 1), 1),
        "upload_s": round(t1 - t0, 2),
        "run_s": round(t3 - t2, 2),
        "run_sql_s": run_sql[0],
        "run_sql_statements": run_sql[1],
        "items_per_s": round(created / (t3 - t2)),
        "upload_and_run_items_per_s": round(created / (t3 - t0)),
        "neardup_pass": {
            "items": indexed,
            "keys": keys,
            "seconds": round(t5 - t4, 2),
            "sql_s": pass_sql[0],
            "sql_statements": pass_sql[1],
            "items_per_s": round(indexed / (t5 - t4)),
        },
    }


class Profiles:
    """cProfile of the timed phases when ``--profile`` is given (it slows them down): the top
    functions by own time go into the report, the full listing to stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.results: dict[str, list[dict[str, Any]]] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            yield
        finally:
            profiler.disable()
            self.results[name] = profile_summary(profiler, name)


def profile_summary(profiler: cProfile.Profile, name: str, top: int = 25) -> list[dict[str, Any]]:
    """The functions with the most own time; the full listing goes to stderr."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(f"---- profile: {name}\n{out.getvalue()}", file=sys.stderr)
    rows = []
    for (file, line, name), (_cc, calls, tottime, cumtime, _callers) in sorted(
        stats.stats.items(), key=lambda kv: kv[1][2], reverse=True
    )[:top]:
        where = file.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        rows.append(
            {
                "function": f"{where}:{line}({name})",
                "calls": calls,
                "tottime_s": round(tottime, 2),
                "cumtime_s": round(cumtime, 2),
            }
        )
    return rows


def approve_all(session_factory, project_id: int, small: int) -> dict[str, Any]:
    """Approve every item with one UPDATE, and tag the first ``small`` of them for the small
    version (one more UPDATE); the versions pin each item's latest revision."""
    with session_factory() as session:
        begin_for_write(session)
        t0 = time.perf_counter()
        approved = session.execute(
            update(Item)
            .where(Item.project_id == project_id)
            .values(status="approved")
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        t1 = time.perf_counter()
        first = (
            sa.select(Item.id).where(Item.project_id == project_id).order_by(Item.id).limit(small)
        )
        session.execute(
            update(Item)
            .where(Item.id.in_(first.scalar_subquery()))
            .values(tags=[SMALL_TAG])
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return {"approved": approved, "approve_update_s": round(t1 - t0, 2)}


def freeze(
    session_factory, admin_id: int, project_id: int, name: str, f: versions.VersionFilter
) -> dict[str, Any]:
    """``freezing.create_version`` and its commit.

    When it fails because one statement needs more bind parameters than PostgreSQL's protocol
    allows (65,535: ``latest_revisions`` binds every matching item id), the failure goes into
    the report and the version is frozen again with ``latest_revisions`` run in chunks of ids,
    everything else as it is, so that the exports can still be measured; ``workaround`` says so.
    """
    result: dict[str, Any] = {}
    try:
        version, seconds = _create_version(session_factory, admin_id, project_id, name, f)
    except sa.exc.OperationalError as error:
        if "number of parameters" not in str(error.orig):
            raise
        result["error"] = f"create_version failed: {str(error.orig).splitlines()[0]}"
        result["workaround"] = (
            f"frozen again with freezing.latest_revisions patched (in this process only) to "
            f"query {LATEST_CHUNK:,} item ids at a time; the timing is of that run"
        )
        log(f"  {result['error']}; freezing again with the workaround")
        original = freezing.latest_revisions
        freezing.latest_revisions = _chunked_latest_revisions(original)
        try:
            version, seconds = _create_version(session_factory, admin_id, project_id, name, f)
        finally:
            freezing.latest_revisions = original
    items = version.train_count + version.eval_count
    return {
        "version_id": version.id,
        "filter": version.filter,
        "items": items,
        "train": version.train_count,
        "eval": version.eval_count,
        "contamination_pairs": len(version.contamination or []),
        "seconds": round(seconds, 2),
        "items_per_s": round(items / seconds),
        **result,
    }


LATEST_CHUNK = 10_000


def _create_version(session_factory, admin_id, project_id, name, f):
    with session_factory() as session:
        begin_for_write(session)
        actor = session.get(User, admin_id)
        project = session.get(Project, project_id)
        t0 = time.perf_counter()
        version = freezing.create_version(
            session=session, project=project, name=name, f=f, actor=actor
        )
        session.commit()
        return version, time.perf_counter() - t0


def _chunked_latest_revisions(original):
    def latest(session, item_ids):
        found = {}
        for start in range(0, len(item_ids), LATEST_CHUNK):
            found.update(original(session, item_ids[start : start + LATEST_CHUNK]))
        return found

    return latest


def run_child(
    url: str, version_id: int, fmt: str, out: Path, *, trace: bool = False, profile: bool = False
) -> dict[str, Any]:
    """One export (or the floor) in a fresh interpreter, so that each peak is its own."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", fmt, "--url", url]
    command += ["--version-id", str(version_id), "--out", str(out)]
    if trace:
        command.append("--tracemalloc")
    if profile:
        command.append("--profile")
    proc = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"export child {fmt} exited with {proc.returncode}")
    return json.loads(proc.stdout)


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise KeyError(field)


def child_main(args: argparse.Namespace) -> int:
    """The subprocess: export one version in one format (or the floor), print one JSON line."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.child == "parquet":
        import pyarrow.parquet  # noqa: F401 - loaded before the baseline, as in a warm server
    engine = make_engine(args.url)
    with Session(engine) as session:
        session.execute(sa.text("SELECT 1"))
    gc.collect()
    baseline = _proc_status_mb("VmRSS")
    # Start the high-water mark (VmHWM) afresh, so the peak is the export's, not the imports'.
    try:
        Path("/proc/self/clear_refs").write_text("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    profiles = Profiles(args.profile)
    if args.tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    with profiles(f"export_{args.child}"):
        if args.child == "floor":
            rows, size = export_floor(args.url, args.version_id, out / "floor.jsonl")
        elif args.child in EXPORT_STAGES:
            with Session(engine) as session:
                rows, size = export_stage(session, args.version_id, args.child), 0
        else:
            with Session(engine) as session:
                paths = export.write_folder(session, args.version_id, args.child, out)
                version = versions.get_version(session=session, version_id=args.version_id)
            size = sum(p.stat().st_size for p in paths)
            rows = version.train_count + version.eval_count
    seconds = time.perf_counter() - t0
    result = {
        "format": args.child,
        "items": rows,
        "seconds": round(seconds, 3),
        "items_per_s": round(rows / seconds),
        "bytes": size,
        "rss_before_mb": baseline,
        "peak_rss_mb": _proc_status_mb("VmHWM"),
        "hwm_reset": hwm_reset,
    }
    if args.tracemalloc:
        result["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
        tracemalloc.stop()
    if args.profile:
        result["profile_top"] = profiles.results[f"export_{args.child}"]
    engine.dispose()
    for path in out.iterdir():
        path.unlink()
    print(json.dumps(result))
    return 0


def export_floor(url: str, version_id: int, path: Path) -> tuple[int, int]:
    """The raw export floor: the pinned snapshots in export order through a server-side cursor,
    one ``json.dumps`` line each."""
    count = 0
    with (
        psycopg.connect(libpq_url(url)) as conn,
        path.open("wb") as f,
        conn.cursor(name="bench_floor") as cur,
    ):
        cur.itersize = FLOOR_FETCH
        cur.execute(
            "SELECT r.snapshot FROM dataset_version_items d "
            "JOIN item_revisions r ON r.id = d.revision_id WHERE d.version_id = %s "
            "ORDER BY d.split DESC, d.position",
            (version_id,),
        )
        for (snapshot,) in cur:
            f.write(json.dumps(snapshot, ensure_ascii=False).encode("utf-8") + b"\n")
            count += 1
    return count, path.stat().st_size


def export_stage(session: Session, version_id: int, stage: str) -> int:
    """Part of an export, nothing written: ``read`` iterates the pinned snapshots of both splits
    (the query, the stream from the server, the JSON parse); ``rows`` also builds every export
    row (the content check, the rendered prompt, the metadata). Returns the item count."""
    count = 0
    for split in export.SPLITS:
        if stage == "read":
            items = versions.pinned_snapshots(session, version_id, split)
        else:
            items = export.rows(session, version_id, split)
        with closing(items):
            for _ in items:
                count += 1
    return count


def measure_export_stages(
    url: str, big: dict[str, Any], out: Path, results: dict[str, Any]
) -> dict[str, Any]:
    """Microseconds per item of reading, of building rows, and of each format's own work
    (format, encode, write, and the README), from runs of the parts alone on the large
    version: each part's time is its run's minus the previous part's."""
    log(f"export stages: {', '.join(EXPORT_STAGES)} of {big['items']:,} items")
    runs = {stage: run_child(url, big["version_id"], stage, out) for stage in EXPORT_STAGES}
    us = {stage: 1e6 * r["seconds"] / r["items"] for stage, r in runs.items()}
    return {
        "items_per_s": {stage: r["items_per_s"] for stage, r in runs.items()},
        "us_per_item": {
            "read": round(us["read"], 2),
            "build_rows": round(us["rows"] - us["read"], 2),
            "format_encode_write": {
                fmt: round(1e6 * results[fmt]["seconds"] / results[fmt]["items"] - us["rows"], 2)
                for fmt in writers.FORMATS
            },
            "floor": round(1e6 * results["floor"]["seconds"] / results["floor"]["items"], 2),
        },
    }


def measure_exports(
    url: str, big: dict[str, Any], small: dict[str, Any], tmp: Path, profiles: Profiles, trace: bool
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    out = tmp / "export"
    for fmt in (*writers.FORMATS, "floor"):
        log(f"export {fmt}: {big['items']:,} and {small['items']:,} items")
        large = run_child(url, big["version_id"], fmt, out)
        little = run_child(url, small["version_id"], fmt, out)
        sizes = str(little["items"]), str(large["items"])

        def by_size(small_value: Any, large_value: Any, sizes=sizes) -> dict[str, Any]:
            return {sizes[0]: small_value, sizes[1]: large_value}

        memory: dict[str, Any] = {
            "peak_rss_mb": by_size(little["peak_rss_mb"], large["peak_rss_mb"]),
            "rss_before_export_mb": by_size(little["rss_before_mb"], large["rss_before_mb"]),
            "peak_rss_ratio": round(large["peak_rss_mb"] / little["peak_rss_mb"], 3),
        }
        growth = [round(r["peak_rss_mb"] - r["rss_before_mb"], 1) for r in (little, large)]
        memory["growth_during_export_mb"] = by_size(*growth)
        memory["peak_is_the_exports_own"] = little["hwm_reset"] and large["hwm_reset"]
        memory["growth_ratio"] = round(growth[1] / growth[0], 3) if growth[0] > 0 else None
        if trace:
            traced = [
                run_child(url, v["version_id"], fmt, out, trace=True)["tracemalloc_peak_mb"]
                for v in (small, big)
            ]
            memory["tracemalloc_peak_mb"] = by_size(*traced)
            memory["tracemalloc_ratio"] = round(traced[1] / traced[0], 3)
        results[fmt] = {
            "items": large["items"],
            "seconds": large["seconds"],
            "items_per_s": large["items_per_s"],
            "bytes": large["bytes"],
            "memory": memory,
        }
        if profiles.enabled:
            profiled = run_child(url, big["version_id"], fmt, out, profile=True)
            profiles.results[f"export_{fmt}"] = profiled["profile_top"]
        log(
            f"  {large['items_per_s']:,} items/s; peak RSS {little['peak_rss_mb']} MB at "
            f"{little['items']:,}, {large['peak_rss_mb']} MB at {large['items']:,}"
        )
    floor = results["floor"]["items_per_s"]
    for fmt in writers.FORMATS:
        results[fmt]["ratio_to_floor"] = round(results[fmt]["items_per_s"] / floor, 3)
    results["stages"] = measure_export_stages(url, big, out, results)
    return results


def budgets(report: dict[str, Any]) -> list[dict[str, Any]]:
    big = report["import"]
    rows = [
        {
            "budget": f"import (parse, validate, insert, revisions) >= {BUDGET_IMPORT:,} items/s",
            "value": big["items_per_s"],
            "ratio_to_floor": report["import"]["ratio_to_floor"],
            "met": big["items_per_s"] >= BUDGET_IMPORT,
        },
        {
            "budget": f"near-duplicate follow-up pass >= {BUDGET_NEARDUP:,} items/s",
            "value": big["neardup_pass"]["items_per_s"],
            "met": big["neardup_pass"]["items_per_s"] >= BUDGET_NEARDUP,
        },
    ]
    exports = report["export"]
    sizes = tuple(report["export"]["floor"]["memory"]["peak_rss_mb"])  # items in each version
    for fmt in writers.FORMATS:
        rows.append(
            {
                "budget": f"export {fmt} >= {BUDGET_EXPORT:,} items/s",
                "value": exports[fmt]["items_per_s"],
                "ratio_to_floor": exports[fmt]["ratio_to_floor"],
                "met": exports[fmt]["items_per_s"] >= BUDGET_EXPORT,
            }
        )
    for fmt in writers.FORMATS:
        memory = exports[fmt]["memory"]
        row = {
            "budget": f"export {fmt} peak RSS at {sizes[1]} items <= "
            f"{BUDGET_MEMORY_RATIO}x the peak at {sizes[0]}",
            "value": memory["peak_rss_ratio"],
            "met": memory["peak_rss_ratio"] <= BUDGET_MEMORY_RATIO,
        }
        if "tracemalloc_ratio" in memory:
            row["tracemalloc_ratio"] = memory["tracemalloc_ratio"]
        rows.append(row)
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "datasets",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "config": {"rows": args.rows, "small": args.small, "tracemalloc": args.tracemalloc},
        "notes": [
            "import.*.run_s: imports.run with default ImportOptions plus the commit, in a session "
            "of its own as app.imports.runner runs it (the budgeted figure); upload_s is "
            "store_upload (copy, SHA-256, detection) plus its commit, a request of its own.",
            "run_sql_s: time inside SQLAlchemy's execute during run_s. On PostgreSQL the rows go "
            "in by COPY through the driver's copy API, which this clock does not see: read the "
            "import's server share from server_write_floor and the profile (--profile).",
            "import.server_write_floor: the rows the import wrote (items, first revisions, "
            "search terms) copied server-side in its 2,000-item batches (INSERT … SELECT, terms "
            "from a copy clustered by item) into empty copies of their tables with the same "
            "indexes, checks and foreign keys, a CHECKPOINT before each; items/s = created "
            "items / total seconds, a ceiling for any import that writes them; "
            "without_search_index_items_per_s counts items and revisions alone.",
            "import.floor: json.loads of every line, then one bare psycopg executemany INSERT of "
            "(instruction, input, output) into a scratch table with a bigserial key, and a "
            "commit. ratio_to_floor = our items/s / floor items/s.",
            "A CHECKPOINT runs before each timed write phase; VACUUM ANALYZE (what autovacuum "
            "does after a bulk load) runs after the imports, before the freeze.",
            "Exports run each in a fresh subprocess: items/s over export.write_folder (README "
            "and both splits). rss_before_export_mb: that process's RSS after its imports and a "
            "first query; the high-water mark is then reset (/proc/self/clear_refs), so "
            "peak_rss_mb (VmHWM) is the peak during the export (peak_is_the_exports_own). "
            "The budget compares peak_rss_mb; growth_during_export_mb is peak minus before.",
            "export.floor: a bare server-side-cursor SELECT of the same pinned snapshots (1,000 "
            "rows a fetch, the export's chunk) in the same order, json.dumps per row to a "
            "file, in a subprocess like the exports.",
            "export.stages: the large version's export in parts, each alone in a subprocess: "
            "read (versions.pinned_snapshots of both splits: query, stream, JSON parse) and rows "
            "(export.rows: also the content check, the rendering and the metadata). us_per_item "
            "is each part's own time (its run minus the previous part's); format_encode_write "
            "is each format's export minus rows (it includes the README's queries).",
        ],
    }
    profiles = Profiles(args.profile)
    with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        path = tmp / "alpaca.jsonl"
        report["file"] = write_alpaca(path, args.rows)
        report["file"]["generate_s"] = round(time.perf_counter() - t0, 2)
        log(f"wrote {args.rows:,} rows ({report['file']['bytes'] / 2**20:.1f} MiB)")
        with fresh_database(log) as url:
            report["database"] = url.rsplit("/", 1)[0].split("@")[-1]
            t0 = time.perf_counter()
            migrate.upgrade(url)
            report["migrate_s"] = round(time.perf_counter() - t0, 2)
            engine = make_engine(url)
            try:
                clock = SqlClock(engine)
                session_factory = make_session_factory(engine)
                with engine.connect() as conn:
                    report["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar()
                admin_id, project_id = make_people(session_factory)

                maintenance(engine, "CHECKPOINT")
                log("raw insert floor")
                floor = floor_insert(url, path)
                log(f"  {floor['items_per_s']:,} items/s")
                maintenance(engine, "CHECKPOINT")
                log(f"importing {args.rows:,} rows")
                imported = import_file(
                    session_factory, clock, path, tmp / "uploads", admin_id, project_id, profiles
                )
                log(
                    f"  {imported['items_per_s']:,} items/s; near-duplicate pass "
                    f"{imported['neardup_pass']['items_per_s']:,} items/s"
                )
                imported["floor"] = floor
                imported["ratio_to_floor"] = round(
                    imported["items_per_s"] / floor["items_per_s"], 3
                )
                maintenance(engine, "CHECKPOINT")
                imported["server_write_floor"] = server_write_floor(url, imported["created"])
                log(
                    "  the server alone, storing the same rows: "
                    f"{imported['server_write_floor']['items_per_s']:,} items/s"
                )
                report["import"] = imported

                log("freezing versions")
                report["approve"] = approve_all(session_factory, project_id, args.small)
                # What autovacuum does after a bulk load and a bulk update.
                report["vacuum_analyze_s"] = maintenance(engine, "VACUUM ANALYZE")
                with profiles("create_version"):
                    big = freeze(
                        session_factory, admin_id, project_id, "bench", versions.VersionFilter()
                    )
                log(f"  {big['items']:,} items in {big['seconds']} s")
                small = freeze(
                    session_factory,
                    admin_id,
                    project_id,
                    "bench small",
                    versions.VersionFilter(tags=[SMALL_TAG]),
                )
                report["freeze"] = {"big": big, "small": small}
                report["problems"] = [
                    f"freeze of {v['items']:,} items: {v['error']}"
                    for v in (big, small)
                    if "error" in v
                ]
                report["export"] = measure_exports(url, big, small, tmp, profiles, args.tracemalloc)
            finally:
                engine.dispose()
    if profiles.enabled:
        report["profiles"] = profiles.results
    report["budgets"] = budgets(report)
    report["all_budgets_met"] = all(row["met"] for row in report["budgets"])
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["total_s"] = round(time.perf_counter() - started, 1)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows imported and exported")
    parser.add_argument("--small", type=int, default=10_000, help="the smaller export size")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also run each export under tracemalloc (Python heap peak; slower)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the import, the near-duplicate pass, the freeze and each export (in "
        "extra runs for the exports); top functions by own time in the report",
    )
    # The export subprocess (internal).
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--version-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.child and not 0 < args.small < args.rows:
        parser.error("need 0 < --small < --rows")
    return args


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    args = parse_args()
    if args.child:
        return child_main(args)
    # A SIGTERM unwinds like Ctrl-C, so the database is dropped.
    signal.signal(signal.SIGTERM, _interrupt)
    reason = postgres_unavailable()
    if reason:
        log(f"skipped: {reason}")
        print(json.dumps({"benchmark": "datasets", "skipped": reason}))
        return 0
    report = run(args)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
