"""Item list, filter, search, save and duplicate-check latency on PostgreSQL, at 1k and 100k items.

Prints one JSON object on stdout (progress goes to stderr). Design §7 budgets, checked here:

- item list and search at 100k items: p95 under 50 ms, and at most 2x the p95 at 1k;
- saving an item: p95 under 50 ms with 20 concurrent users;
- the web process idles under 150 MB RSS.

What it does: creates a fresh database on the local server (``STUDIO_BENCH_PG_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``), migrates it, starts the real app as a
separate ``studio serve`` process, seeds items in steps (1,000, then grown to 100,000), and at each
size times the JSON API over loopback HTTP with httpx. Latencies are client-observed wall time, so
they include the loopback and the client's own overhead (see ``healthz`` for that floor). The
near-duplicate check is timed in-process (``app.items.checks.near_duplicates``) against the same
database. For each query the page runs, ``sql`` gives PostgreSQL's own EXPLAIN ANALYZE time and a
one-line plan. The database is dropped at the end, also on failure.

Seeding writes, per item, exactly the rows ``app.items.service.create_item`` writes (item,
revision 1, search terms, near-duplicate keys, audit event) but in batches (Core ``insert`` for
items, revisions and audit events; COPY for search terms and keys) instead of one transaction per
item; the content goes through the service's own validation, hashing and indexing functions.

    .venv/bin/python bench/items.py                                 # full run (~10 min, 2 cores)
    .venv/bin/python bench/items.py --sizes 1000,5000 --requests 50 # quick run
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event, select  # noqa: E402

from app import migrate  # noqa: E402
from app.db import make_engine, make_session_factory  # noqa: E402
from app.items import checks, indexing, repository  # noqa: E402
from app.items import service as item_service  # noqa: E402
from app.items.schemas import ItemDraft  # noqa: E402
from app.members import service as member_service  # noqa: E402
from app.models import AuditEvent, Item, ItemRevision, Project, User  # noqa: E402
from app.projects import service as project_service  # noqa: E402
from app.tokens import service as token_service  # noqa: E402
from app.users import service as user_service  # noqa: E402
from bench.pg import fresh_database, postgres_unavailable  # noqa: E402

STUDIO = ROOT / ".venv" / "bin" / "studio"
BUDGET_MS = 50.0
BUDGET_RATIO = 2.0
BUDGET_RSS_MB = 150.0
BUDGET_SIZE = 100_000
SEED_BATCH = 2_000
WARMUP = 5
PASSWORD = "bench-password-1234"

# ---------------------------------------------------------------------------------------------
# Deterministic content
# ---------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


EN_VOCAB = _words(
    "the a of to and in is for that it with as on be this are by from or have an can at not "
    "you your will should each more about which their one all when use make how them also some "
    "time people data first would into other these two may like new way most over only just "
    "work many such good well after where what most used before because while through between "
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
# Words the searches look for; none of them is in EN_VOCAB, so their frequency is exactly ours.
EN_RARE = "photosynthesis"  # in ~1% of items
EN_FREQUENT = "time"  # a top-ranked vocabulary word: in most English items (worst case)

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
ZH_RARE = "机器学习"  # in ~1% of items; the search is for its first two characters
ZH_QUERY = "机器"
assert not any(ch in word for word in ZH_VOCAB for ch in ZH_QUERY), "机/器 must stay rare"
assert EN_RARE not in EN_VOCAB

ZH_SHARE = 0.4
DOMAINS = ["writing", "coding", "math", "translation", "summarization", "qa", "reasoning", "chat"]
TAGS = ["safety", "multi-turn", "long", "short", "formal", "casual", "creative", "factual", "gold"]
STATUSES = (
    ["draft", "submitted", "approved", "changes_requested", "rejected"],
    [30, 30, 25, 10, 5],
)
KINDS = (["task", "constraint", "example"], [65, 20, 15])
WORDS_ID = "length_constraints:number_words"
CONSTRAINTS = [
    {"id": "punctuation:no_comma", "params": {}},
    {"id": "change_case:english_lowercase", "params": {}},
    {"id": "detectable_format:title", "params": {}},
    {"id": WORDS_ID, "params": {"relation": "less than", "num_words": 200}},
    {"id": WORDS_ID, "params": {"relation": "at least", "num_words": 20}},
]
EN_RULES = ["Use a neutral tone.", "Do not mention competitors.", "Cite the source at the end."]
ZH_RULES = ["使用正式的语气。", "不要提及竞争对手。", "在结尾注明来源。"]
EN_TEMPLATES = [
    "Write a {adj} {noun} about {topic}.",
    "Summarize the following {noun} in {n} sentences.",
    "Explain {topic} to a {audience}.",
    "Translate the following text into Chinese.",
    "List {n} ways to improve the {topic}.",
    "Compare {topic} and {topic2} for a {audience}.",
    "Classify the {noun} below as positive, negative or neutral.",
    "Fix the bug in this {noun} and explain the {topic}.",
]
ZH_TEMPLATES = [
    "写一篇关于{topic}的{noun}。",
    "请总结下面的{noun}，不超过{n}句话。",
    "向{audience}解释{topic}。",
    "把下面的文字翻译成英文。",
    "列出{n}个改进{topic}的方法。",
    "比较{topic}和{topic2}的优缺点。",
    "判断下面的{noun}是正面、负面还是中性。",
]


class ContentGenerator:
    """Item drafts from ``random.Random(seed)``: English (60%) and Chinese (40%) text of varied
    length, across kinds, domains, statuses and tags; 2% are near-copies of an earlier item."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self._en_cum = _zipf_cum(len(EN_VOCAB))
        self._zh_cum = _zipf_cum(len(ZH_VOCAB))
        self._recent: list[dict[str, Any]] = []

    def en_words(self, k: int) -> list[str]:
        return self.rng.choices(EN_VOCAB, cum_weights=self._en_cum, k=k)

    def zh_words(self, k: int) -> list[str]:
        return self.rng.choices(ZH_VOCAB, cum_weights=self._zh_cum, k=k)

    def en_text(self, words: int) -> str:
        out, left = [], words
        while left > 0:
            n = min(left, self.rng.randint(6, 18))
            chosen = self.en_words(n)
            out.append(" ".join(chosen).capitalize() + self.rng.choice(".....?!"))
            left -= n
        return " ".join(out)

    def zh_text(self, words: int) -> str:
        out, left = [], words
        while left > 0:
            n = min(left, self.rng.randint(5, 12))
            out.append("".join(self.zh_words(n)) + self.rng.choice("。。。。，？！"))
            left -= n
        return "".join(out)

    def _length(self, low: int, high: int) -> int:
        # Skewed towards short texts, with a long tail up to ``high``.
        return int(low + (high - low) * self.rng.random() ** 2)

    def draft(self) -> tuple[dict[str, Any], str]:
        """(ItemDraft fields, status)."""
        rng = self.rng
        status = rng.choices(*STATUSES)[0]
        if self._recent and rng.random() < 0.02:
            return self._near_copy(rng.choice(self._recent)), status
        zh = rng.random() < ZH_SHARE
        kind = rng.choices(*KINDS)[0]
        text = self.zh_text if zh else self.en_text
        words = self.zh_words if zh else self.en_words
        fill = {
            "adj": words(1)[0],
            "noun": words(1)[0],
            "topic": words(1)[0],
            "topic2": words(1)[0],
            "audience": words(1)[0],
            "n": rng.randint(2, 7),
        }
        template = rng.choice(ZH_TEMPLATES if zh else EN_TEMPLATES)
        instruction = template.format(**fill)
        if rng.random() < 0.7:
            instruction += ("" if zh else " ") + text(self._length(4, 30))
        # Each searched word is in ~1% of all items: 1/0.6 % of English, 1/0.4 % of Chinese ones.
        if rng.random() < 0.01 / (ZH_SHARE if zh else 1 - ZH_SHARE):
            rare = f"请结合{ZH_RARE}的例子。" if zh else f" Mention {EN_RARE} in the answer."
            instruction += rare
        data: dict[str, Any] = {
            "kind": kind,
            "instruction": instruction,
            "input": text(self._length(8, 120)) if rng.random() < 0.5 else "",
            "output": text(self._length(15, 300)),
            "language": "zh" if zh else "en",
            "domain": rng.choice(DOMAINS) if rng.random() < 0.95 else None,
            "difficulty": rng.randint(1, 5) if rng.random() < 0.8 else None,
            "tags": rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2, 3])),
        }
        if kind == "constraint":
            data["constraints"] = rng.sample(CONSTRAINTS[:3], rng.randint(0, 1)) + (
                [rng.choice(CONSTRAINTS[3:])] if rng.random() < 0.6 else []
            )
            data["rules"] = [rng.choice(ZH_RULES if zh else EN_RULES)] if rng.random() < 0.4 else []
        elif kind == "example":
            data["demos"] = [
                {"input": text(self._length(5, 40)), "output": text(self._length(5, 60))}
                for _ in range(rng.randint(1, 3))
            ]
            data["input"] = data["input"] or text(self._length(5, 40))
        if kind == "task" and len(self._recent) < 500:
            self._recent.append(data)
        elif kind == "task" and rng.random() < 0.05:
            self._recent[rng.randrange(500)] = data
        return data, status

    def _near_copy(self, source: dict[str, Any]) -> dict[str, Any]:
        return {**source, "output": perturb(source["output"], self.rng)}


def _zipf_cum(n: int) -> list[float]:
    total, cum = 0.0, []
    for rank in range(n):
        total += 1.0 / (rank + 1)
        cum.append(total)
    return cum


def perturb(text: str, rng: random.Random) -> str:
    """A near-copy: one word (or, in Chinese, two characters) changed."""
    words = text.split(" ")
    if len(words) > 3:
        words[rng.randrange(len(words))] = rng.choice(EN_VOCAB)
        return " ".join(words)
    i = rng.randrange(max(1, len(text) - 2))
    return text[:i] + rng.choice(ZH_VOCAB) + text[i + 2 :]


# ---------------------------------------------------------------------------------------------
# Database: create, migrate, seed, drop
# ---------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench/items {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _build_item(job: tuple) -> tuple[dict, dict, dict, str, str]:
    """In a worker process: the rows ``create_item`` writes for one generated draft (item,
    revision, audit event as dicts; search terms and near-duplicate keys as COPY text)."""
    item_id, data, status, author_id, author_email, project_id, guideline_version, stamp = job
    draft = ItemDraft(**data)
    content = item_service.validate_content(draft, for_submit=status != "draft")
    item = Item(
        id=item_id,
        project_id=project_id,
        author_id=author_id,
        guideline_version=guideline_version,
        status=status,
        version=1,
        created_at=stamp,
        updated_at=stamp,
    )
    if status != "draft" and hasattr(Item, "submitted_at"):
        item.submitted_at = stamp  # it went through a submit
    item_service._apply(item, content, draft)
    snap = item_service.snapshot(item)
    revision = {
        "item_id": item_id,
        "version": 1,
        "snapshot": snap,
        "content_hash": item.content_hash,
        "editor_id": author_id,
        "created_at": stamp,
    }
    audit = {
        "at": stamp,
        "actor_id": author_id,
        "actor_label": author_email,
        "action": "item.created" if status == "draft" else "item.submitted",
        "entity_type": "item",
        "entity_id": str(item_id),
        "before": None,
        "after": snap,
    }
    text = indexing.item_text(item)
    # Terms are \w+ runs or CJK bigrams: never a tab, newline or backslash, so COPY text is safe.
    terms = "".join(f"{term}\t{item_id}\n" for term in indexing.terms_of(text))
    keys = "".join(
        f"{r['item_id']}\t{r['band']}\t{r['project_id']}\t{r['key']}\n"
        for r in indexing.near_dup_rows(item_id, project_id, text)
    )
    return _row(item), revision, audit, terms, keys


class Seeder:
    """Grows the project to a target size, writing what ``create_item`` writes for each item.

    Drafts come from one deterministic generator; worker processes turn them into rows through
    the service's validation, hashing and indexing functions. Items, revisions and audit events
    go through SQLAlchemy Core ``insert`` of the mapped tables (the app's own defaults, JSON and
    timestamp types); the many search-term and near-duplicate-key rows go through COPY."""

    def __init__(self, engine: sa.Engine, project: Project, authors: list[User]) -> None:
        self.engine = engine
        self.project_id = project.id
        self.guideline_version = project.guideline_version
        self.authors = [(a.id, a.email) for a in authors]
        self.gen = ContentGenerator(0)
        self.count = 0
        self.epoch = datetime.now(UTC) - timedelta(days=120)
        # spawn, not fork: forked children would share the parent's database sockets.
        context = multiprocessing.get_context("spawn")
        self.pool = context.Pool(os.cpu_count() or 2)

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()

    def _jobs(self, first: int, count: int) -> Iterator[tuple]:
        for item_id in range(first, first + count):
            data, status = self.gen.draft()
            author_id, author_email = self.authors[item_id % len(self.authors)]
            stamp = self.epoch + timedelta(seconds=item_id * 60)
            yield (item_id, data, status, author_id, author_email, self.project_id,
                   self.guideline_version, stamp)  # fmt: skip

    def grow_to(self, target: int) -> dict[str, Any]:
        start = time.perf_counter()
        added = target - self.count
        terms_n = keys_n = 0
        insert_s = 0.0
        with self.engine.connect() as conn:
            first = conn.scalar(sa.text("SELECT coalesce(max(id), 0) + 1 FROM items"))
            built = self.pool.imap(_build_item, self._jobs(first, added), chunksize=50)
            done = 0
            while done < added:
                batch = [next(built) for _ in range(min(SEED_BATCH, added - done))]
                t0 = time.perf_counter()
                conn.execute(sa.insert(Item.__table__), [b[0] for b in batch])
                conn.execute(sa.insert(ItemRevision.__table__), [b[1] for b in batch])
                conn.execute(sa.insert(AuditEvent.__table__), [b[2] for b in batch])
                terms = "".join(b[3] for b in batch)
                keys = "".join(b[4] for b in batch)
                with conn.connection.driver_connection.cursor() as cur:
                    with cur.copy("COPY search_terms (term, item_id) FROM STDIN") as copy:
                        copy.write(terms.encode())
                    columns = "item_id, band, project_id, key"
                    with cur.copy(f"COPY neardup_keys ({columns}) FROM STDIN") as copy:
                        copy.write(keys.encode())
                conn.commit()
                insert_s += time.perf_counter() - t0
                terms_n += terms.count("\n")
                keys_n += keys.count("\n")
                done += len(batch)
                self.count += len(batch)
                if (self.count // SEED_BATCH) % 10 == 0 or done == added:
                    log(f"  seeded {self.count:,} items")
            conn.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence('items', 'id'), "
                    "(SELECT max(id) FROM items))"
                )
            )
            conn.commit()
        seeded = time.perf_counter()
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # What autovacuum does after a bulk load; without it the planner sees stale stats.
            conn.execute(sa.text("VACUUM ANALYZE"))
        vacuumed = time.perf_counter()
        return {
            "items_added": added,
            "search_terms_added": terms_n,
            "neardup_keys_added": keys_n,
            "seconds": round(seeded - start, 2),
            "of_which_database_inserts_s": round(insert_s, 2),
            "items_per_s": round(added / (seeded - start)),
            "vacuum_analyze_s": round(vacuumed - seeded, 2),
        }


def _row(item: Item) -> dict[str, Any]:
    """The item's columns as set; unset nullable columns without a default are None, so every
    row has the same keys, and columns with a default get it from Core."""
    state = sa.inspect(item).dict
    row = {}
    for column in Item.__table__.columns:
        if column.key in state:
            row[column.key] = state[column.key]
        elif column.nullable and column.default is None and column.server_default is None:
            row[column.key] = None
    return row


def make_people(session_factory) -> tuple[Project, str, list[tuple[User, str]]]:
    """An admin, 20 annotators with a user-scope API token each, and one project they are
    members of; returns it with a reviewer member's token (who sees every draft: the list's
    baseline without the privacy filter) and the annotators."""
    with session_factory() as session:
        admin = user_service.create_user(
            session=session, email="admin@bench.test", role="admin", password=PASSWORD, actor=None
        )
        project = project_service.create_project(
            session=session,
            data=project_service.ProjectInput(name="Bench", domains=DOMAINS, tags=TAGS),
            actor=admin,
        )
        people = []
        for n in range(ARGS.users):
            user = user_service.create_user(
                session=session,
                email=f"annotator{n:02d}@bench.test",
                role="annotator",
                password=PASSWORD,
                actor=admin,
            )
            # A member in the project role of an annotator: the item list they get keeps
            # other people's drafts out (the project keeps drafts private, the default).
            member_service.add_member(
                session=session, project=project, user=user, role="annotator", actor=admin
            )
            token = token_service.create_token(
                session=session, name=f"bench {n}", scope="user", owner=user, actor=admin
            )
            people.append((user, token.raw))
        reviewer = user_service.create_user(
            session=session,
            email="reviewer@bench.test",
            role="reviewer",
            password=PASSWORD,
            actor=admin,
        )
        member_service.add_member(
            session=session, project=project, user=reviewer, role="reviewer", actor=admin
        )
        reviewer_token = token_service.create_token(
            session=session, name="bench reviewer", scope="user", owner=reviewer, actor=admin
        )
        session.commit()
        return project, reviewer_token.raw, people


# ---------------------------------------------------------------------------------------------
# The web process
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, tmp: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "server.log"
        env = {
            **os.environ,
            "STUDIO_DATABASE_URL": url,
            "STUDIO_VAR_DIR": str(tmp / "var"),
            "STUDIO_SECRET_KEY": "bench-secret-key-" + uuid.uuid4().hex,
            "STUDIO_ADMIN_PASSWORD": "",
        }
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(STUDIO), "serve", "--port", str(self.port), "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"studio serve exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"studio serve did not answer in 60 s:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def memory_mb(self) -> dict[str, float]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        values = {}
        for key in ("VmRSS", "VmHWM"):
            match = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
            values[key] = round(int(match.group(1)) / 1024, 1) if match else None
        return {"rss_mb": values["VmRSS"], "peak_rss_mb": values["VmHWM"]}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    p95 = statistics.quantiles(ordered, n=100, method="inclusive")[94] if len(ms) > 1 else ms[0]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "max_ms": round(ordered[-1], 2),
    }


def time_get(
    client: httpx.Client, path: str, params: dict, n: int, headers: dict | None = None
) -> tuple[dict, dict]:
    """Warm up, then time ``n`` sequential GETs (as ``headers`` say, when given); returns
    (summary, the last response's JSON)."""
    body: dict = {}
    for _ in range(WARMUP):
        client.get(path, params=params, headers=headers).raise_for_status()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(path, params=params, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        body = response.json()
    return summary(times), body


DRAFT_FIELDS = _words(
    "kind instruction input output demos constraints rules state_constraints domain difficulty "
    "tags language"
)


def item_body(item: dict, output: str) -> dict:
    return {**{f: item[f] for f in DRAFT_FIELDS}, "output": output, "version": item["version"]}


def time_saves(
    base: str,
    people: list[tuple[User, str]],
    item_ids: list[int],
    saves: int,
    think_s: tuple[float, float] = (0.0, 0.0),
) -> dict:
    """Each user saves their own item ``saves`` times (PUT with the version read), all users at
    once, pausing ``think_s`` (uniform range) before each save. Only this user edits the item,
    so any 409 is spurious; it is counted, the item re-read, and the save not timed."""
    barrier = threading.Barrier(len(people))
    times: list[float] = []
    failures: list[str] = []
    conflicts = [0]
    lock = threading.Lock()

    def user_loop(index: int, token: str, item_id: int) -> None:
        rng = random.Random(index)
        headers = {"Authorization": f"Bearer {token}"}
        mine: list[float] = []
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                item = client.get(f"/api/v1/items/{item_id}").raise_for_status().json()
                original = item["output"]
                barrier.wait()
                for k in range(saves):
                    if think_s[1]:
                        time.sleep(rng.uniform(*think_s))
                    body = item_body(item, f"{original} Edit {k} at {time.time_ns()}.")
                    t0 = time.perf_counter()
                    response = client.put(f"/api/v1/items/{item_id}", json=body)
                    elapsed = (time.perf_counter() - t0) * 1000
                    if response.status_code == 409:
                        with lock:
                            conflicts[0] += 1
                        item = client.get(f"/api/v1/items/{item_id}").raise_for_status().json()
                        continue
                    if response.status_code != 200:
                        raise RuntimeError(
                            f"PUT {item_id} (save {k}, version {item['version']}): "
                            f"{response.status_code} {response.text}"
                        )
                    mine.append(elapsed)
                    item = response.json()
        except Exception as error:  # noqa: BLE001 - reported below
            barrier.abort()
            with lock:
                failures.append(str(error)[:300])
        with lock:
            times.extend(mine)

    threads = [
        threading.Thread(target=user_loop, args=(index, token, item_id))
        for index, ((_, token), item_id) in enumerate(zip(people, item_ids, strict=True))
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"saves failed: {failures[:3]}")
    result = summary(times)
    result["users"] = len(people)
    result["think_time_s"] = list(think_s)
    result["saves_per_s"] = round(len(times) / wall, 1)
    result["spurious_409"] = conflicts[0]
    return result


def time_save_in_process(session_factory, user_id: int, item_id: int, n: int) -> dict:
    """``update_item`` plus commit in this process, one at a time: the save's own cost
    without HTTP, authentication or JSON."""
    times = []
    for k in range(n):
        with session_factory() as session:
            t0 = time.perf_counter()
            item = session.get(Item, item_id)
            editor = session.get(User, user_id)
            data = {f: getattr(item, f) for f in DRAFT_FIELDS}
            data["output"] = f"{item.output.split(' Edit ')[0]} Edit {k} in process."
            item_service.update_item(
                session=session,
                item_id=item_id,
                draft=ItemDraft(**data),
                expected_version=item.version,
                editor=editor,
            )
            session.commit()
            times.append((time.perf_counter() - t0) * 1000)
    return summary(times)


def plan_line(node: dict, depth: int = 0) -> str:
    """``Limit > Index Scan Backward on items using pk_items (rows=51)``, children nested."""
    label = node["Node Type"]
    if node.get("Index Name"):
        label += f" using {node['Index Name']}"
    elif node.get("Relation Name"):
        label += f" on {node['Relation Name']}"
    label += f" (rows={node.get('Actual Rows')}"
    if node.get("Rows Removed by Filter"):
        label += f", removed={node['Rows Removed by Filter']}"
    label += ")"
    children = [plan_line(c, depth + 1) for c in node.get("Plans", [])]
    return label + (" > [" + "; ".join(children) + "]" if children else "")


@contextmanager
def captured_sql(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", remember)


def explain(engine: sa.Engine, run: Callable[[], Any], label: str) -> list[dict]:
    """EXPLAIN ANALYZE every SELECT that ``run`` issues; PostgreSQL's own time for each."""
    with captured_sql(engine) as statements:
        run()
    results = []
    with engine.connect() as conn:
        for statement, parameters in statements:
            sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement
            plan = conn.exec_driver_sql(sql, parameters).scalar()[0]
            results.append(
                {
                    "execution_ms": round(plan["Execution Time"], 2),
                    "planning_ms": round(plan["Planning Time"], 2),
                    "plan": plan_line(plan["Plan"]),
                }
            )
            if ARGS.explain:
                text_sql = "EXPLAIN (ANALYZE, BUFFERS) " + statement
                lines = conn.exec_driver_sql(text_sql, parameters).scalars().all()
                log(f"EXPLAIN {label}:\n{statement}\n{parameters}\n" + "\n".join(lines))
        conn.rollback()
    return results


def time_duplicate_check(session_factory, project_id: int, size: int, n: int) -> dict:
    """``near_duplicates`` in-process on near-copies of random existing items."""
    rng = random.Random(size)
    with session_factory() as session:
        ids = session.scalars(select(Item.id).where(Item.project_id == project_id)).all()
        sources = session.scalars(
            select(Item).where(Item.id.in_(rng.sample(ids, min(n, len(ids)))))
        ).all()
        texts = [(s.id, perturb(indexing.item_text(s), rng)) for s in sources]
    for _, text in texts[:WARMUP]:
        with session_factory() as session:
            checks.near_duplicates(session, project_id=project_id, text=text, exclude_id=None)
    times, found, candidates = [], 0, 0
    for source_id, text in texts:
        with session_factory() as session:
            t0 = time.perf_counter()
            matches = checks.near_duplicates(
                session, project_id=project_id, text=text, exclude_id=None
            )
            times.append((time.perf_counter() - t0) * 1000)
        found += any(item.id == source_id for item, _ in matches)
        candidates += len(matches)
    result = summary(times)
    result["source_found_rate"] = round(found / len(texts), 3)
    result["mean_matches"] = round(candidates / len(texts), 2)
    return result


def measure_size(
    size: int,
    server: Server,
    engine: sa.Engine,
    session_factory,
    project_id: int,
    people: list[tuple[User, str]],
    reviewer_token: str,
) -> dict[str, Any]:
    n = ARGS.requests
    api = f"/api/v1/projects/{project_id}/items"
    queries = {
        "list": {},
        "filter": {"kind": "task", "status": "submitted", "domain": "writing"},
        "search_en": {"q": EN_RARE},
        "search_zh": {"q": ZH_QUERY},
        "search_en_frequent": {"q": EN_FREQUENT},
    }
    result: dict[str, Any] = {}
    matches: dict[str, int] = {}
    sql: dict[str, list] = {}
    headers = {"Authorization": f"Bearer {people[0][1]}"}
    reviewer = {"Authorization": f"Bearer {reviewer_token}"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=60) as client:
        result["healthz"], _ = time_get(client, "/healthz", {}, n)
        # The same first page for a reviewer, who sees every draft: the annotator's "list"
        # against it is what keeping other people's drafts private costs.
        log(f"  list as a reviewer x{n}")
        result["list_as_reviewer"], _ = time_get(client, api, {}, n, headers=reviewer)
        for name, params in queries.items():
            log(f"  {name} {params} x{n}")
            result[name], body = time_get(client, api, params, n)
            matches[name] = sum(body["counts"].values())
            f = repository.ItemFilter(project_id=project_id, drafts_of=people[0][0].id, **params)

            def page(f=f):
                with session_factory() as session:
                    repository.page(session, f)
                    repository.counts_by_status(session, f)

            sql[name] = explain(engine, page, f"{name} at {size}")
    log(f"  duplicate check x{n} (in-process)")
    result["duplicate_check_in_process"] = time_duplicate_check(
        session_factory, project_id, size, n
    )
    with session_factory() as session:
        text = perturb(indexing.item_text(session.get(Item, size // 2)), random.Random(1))

    def dup(text=text):
        with session_factory() as session:
            checks.near_duplicates(session, project_id=project_id, text=text, exclude_id=None)

    sql["duplicate_check"] = explain(engine, dup, f"duplicate check at {size}")
    saves = max(1, n // len(people))
    with session_factory() as session:
        newest = dict(
            session.execute(
                select(Item.author_id, sa.func.max(Item.id))
                .where(Item.project_id == project_id, Item.status == "draft")
                .group_by(Item.author_id)
            ).all()
        )
    item_ids = [newest[user.id] for user, _ in people]
    users = len(people)
    log(f"  save: {users} concurrent users x {saves} saves, no pause")
    result[f"save_{users}_users"] = time_saves(server.base, people, item_ids, saves)
    log(f"  save: {users} concurrent users x {saves} saves, 0.5-1.5 s apart")
    result[f"save_{users}_users_paced"] = time_saves(
        server.base, people, item_ids, saves, think_s=(0.5, 1.5)
    )
    log("  save: 1 user, no pause")
    result["save_1_user"] = time_saves(server.base, people[:1], item_ids[:1], saves * 2)
    log("  save: in-process update_item + commit")
    result["save_in_process"] = time_save_in_process(
        session_factory, people[1][0].id, item_ids[1], saves * 2
    )
    result["matches"] = matches
    result["sql"] = sql
    return result


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

BUDGETED = ["list", "filter", "search_en", "search_zh"]


def budgets(sizes: list[int], by_size: dict, rss: dict, users: int) -> list[dict]:
    small, large = by_size[str(sizes[0])], by_size[str(sizes[-1])]
    at = f"at {sizes[-1]:,} items" + (
        "" if sizes[-1] == BUDGET_SIZE else f" (budget is defined at {BUDGET_SIZE:,})"
    )
    rows = []
    for name in BUDGETED:
        p95 = large[name]["p95_ms"]
        rows.append(
            {
                "budget": f"{name} p95 < {BUDGET_MS:g} ms {at}",
                "value": p95,
                "met": p95 < BUDGET_MS,
            }
        )
        ratio = round(p95 / small[name]["p95_ms"], 2)
        rows.append(
            {
                "budget": f"{name} p95 {sizes[-1]:,} / {sizes[0]:,} <= {BUDGET_RATIO:g}",
                "value": ratio,
                "met": ratio <= BUDGET_RATIO,
            }
        )
    save = large[f"save_{users}_users"]["p95_ms"]
    rows.append(
        {
            "budget": f"save p95 < {BUDGET_MS:g} ms with {users} concurrent users {at}",
            "value": save,
            "met": save < BUDGET_MS,
        }
    )
    paced = large[f"save_{users}_users_paced"]["p95_ms"]
    rows.append(
        {
            "budget": f"save p95 < {BUDGET_MS:g} ms with {users} users saving 0.5-1.5 s apart {at}",
            "value": paced,
            "met": paced < BUDGET_MS,
            "informational": True,
        }
    )
    idle = rss["idle_after_load"]["rss_mb"]
    rows.append(
        {
            "budget": f"web process idle RSS < {BUDGET_RSS_MB:g} MB after load",
            "value": idle,
            "met": idle < BUDGET_RSS_MB,
        }
    )
    return rows


class CpuWatch:
    """How much of the machine's CPU other processes used while we measured: the bench, the web
    process and this database's PostgreSQL backends are ours; anything else skews the numbers."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, engine: sa.Engine, server_pid: int) -> None:
        self.engine = engine
        self.server_pid = server_pid
        self.wall = time.monotonic()
        self.busy = self._machine_busy()
        self.own = self._own()

    def _machine_busy(self) -> float:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return (sum(fields[:8]) - idle) / self.TICK

    def _proc(self, pid: int) -> float:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.TICK  # utime + stime

    def _own(self) -> dict[int, float]:
        with self.engine.connect() as conn:
            backends = conn.scalars(
                sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            ).all()
        pids = {os.getpid(), self.server_pid, *backends}
        return {pid: self._proc(pid) for pid in pids}

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self.wall
        busy = self._machine_busy() - self.busy
        own_now = self._own()
        own = sum(cpu - self.own.get(pid, 0.0) for pid, cpu in own_now.items())
        capacity = wall * (os.cpu_count() or 1)
        return {
            "seconds": round(wall, 1),
            "cpu_busy_pct": round(100 * busy / capacity, 1),
            "cpu_other_processes_pct": round(100 * max(0.0, busy - own) / capacity, 1),
        }


def run() -> dict[str, Any]:
    started = time.perf_counter()
    sizes = ARGS.sizes
    report: dict[str, Any] = {
        "benchmark": "items",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "config": {
            "sizes": sizes,
            "requests": ARGS.requests,
            "concurrent_users": ARGS.users,
            "page_size": 50,
            "warmup_requests": WARMUP,
        },
        "notes": [
            "HTTP latencies are client-observed wall time over loopback (httpx, keep-alive); "
            "they include the client's and the loopback's overhead, see healthz for that floor. "
            "Client, server and PostgreSQL share the machine's CPUs.",
            "duplicate_check_in_process times app.items.checks.near_duplicates in the bench "
            "process against the same database (no HTTP).",
            "machine.cpu_other_processes_pct: share of all CPUs that processes other than the "
            "bench, the web process and this database's backends used during a size's "
            "measurements; above a few percent, the machine was shared and the numbers skewed.",
            "sql: PostgreSQL EXPLAIN ANALYZE time of each SELECT the endpoint's repository "
            "calls issue (page, then counts_by_status), run once after the timed requests.",
            "Seeding writes in batches the rows create_item writes; VACUUM ANALYZE follows.",
            "Saves: each user PUTs their own newest draft (drafts are always editable), back to "
            "back (the budgeted figure) and, for comparison, 0.5-1.5 s apart; save_in_process is "
            "update_item plus commit in the bench process, one at a time.",
            f"search_en: '{EN_RARE}' (~1% of items); search_zh: '{ZH_QUERY}' from '{ZH_RARE}' "
            f"(~1%); search_en_frequent: '{EN_FREQUENT}', in most English items (not budgeted).",
        ],
    }
    with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp, fresh_database(log) as url:
        report["database"] = url.rsplit("/", 1)[0].split("@")[-1]
        t0 = time.perf_counter()
        migrate.upgrade(url)
        report["migrate_s"] = round(time.perf_counter() - t0, 2)
        engine = make_engine(url)
        session_factory = make_session_factory(engine)
        with engine.connect() as conn:
            report["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar()
        project, reviewer_token, people = make_people(session_factory)
        seeder = Seeder(engine, project, [user for user, _ in people])
        server = None
        try:
            server = Server(url, Path(tmp))
            time.sleep(1)
            rss = {"after_start": server.memory_mb()}
            report["seed"], report["server_restarts"], by_size = {}, [], {}
            for size in sizes:
                log(f"seeding up to {size:,} items")
                report["seed"][str(size)] = seeder.grow_to(size)
                if server.proc.poll() is not None:
                    # Another process on a shared machine may stop it (a broad pkill).
                    returncode = server.proc.returncode
                    log(f"the web process exited ({returncode}); restarting it:\n{server.tail(5)}")
                    server.stop()
                    restart_dir = Path(tmp) / f"restart-{size}"
                    restart_dir.mkdir()
                    server = Server(url, restart_dir)
                    report["server_restarts"].append({"before_size": size, "exit": returncode})
                log(f"measuring at {size:,} items")
                watch = CpuWatch(engine, server.proc.pid)
                by_size[str(size)] = measure_size(
                    size, server, engine, session_factory, project.id, people, reviewer_token
                )
                by_size[str(size)]["machine"] = watch.stop()
                time.sleep(2)
                rss[f"idle_after_load_at_{size}"] = server.memory_mb()
            rss["idle_after_load"] = rss[f"idle_after_load_at_{sizes[-1]}"]
        except BaseException:
            if server is not None:
                log(f"server log tail:\n{server.tail()}")
            raise
        finally:
            if server is not None:
                server.stop()
            seeder.close()
            engine.dispose()
    report["sizes"] = by_size
    timed = [*BUDGETED, "search_en_frequent", "duplicate_check_in_process"]
    timed += [f"save_{ARGS.users}_users", f"save_{ARGS.users}_users_paced", "save_in_process"]
    report["ratio_p95_largest_to_smallest"] = {
        name: round(
            by_size[str(sizes[-1])][name]["p95_ms"] / by_size[str(sizes[0])][name]["p95_ms"], 2
        )
        for name in timed
    }
    # What keeping other annotators' drafts private costs the first page, at each size.
    report["ratio_p95_annotator_list_to_reviewer_list"] = {
        size: round(by["list"]["p95_ms"] / by["list_as_reviewer"]["p95_ms"], 2)
        for size, by in by_size.items()
    }
    report["web_process_memory"] = rss
    report["budgets"] = budgets(sizes, by_size, rss, ARGS.users)
    report["all_budgets_met"] = all(
        row["met"] for row in report["budgets"] if not row.get("informational")
    )
    report["total_s"] = round(time.perf_counter() - started, 1)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="1000,100000",
        type=lambda s: sorted(int(x) for x in s.split(",")),
        help="item counts to measure at, ascending (default: 1000,100000)",
    )
    parser.add_argument("--requests", default=200, type=int, help="timed requests per endpoint")
    parser.add_argument("--users", default=20, type=int, help="concurrent users saving")
    parser.add_argument(
        "--explain", action="store_true", help="also print full EXPLAIN ANALYZE plans to stderr"
    )
    args = parser.parse_args(argv)
    if len(args.sizes) < 1 or args.sizes[0] < args.users or args.requests < 2:
        parser.error("need sizes >= users and at least 2 requests")
    return args


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    global ARGS
    ARGS = parse_args()
    # A SIGTERM unwinds like Ctrl-C, so the server stops and the database is dropped.
    signal.signal(signal.SIGTERM, _interrupt)
    reason = postgres_unavailable()
    if reason:
        log(f"skipped: {reason}")
        print(json.dumps({"benchmark": "items", "skipped": reason}))
        return 0
    report = run()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


ARGS: argparse.Namespace

if __name__ == "__main__":
    sys.exit(main())
