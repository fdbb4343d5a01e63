"""What ``bench/try_model.py`` runs against: the seed tasks it trains and asks on, a database
seeded through the real services (a project, a frozen version, a tiny fine-tune), the app and a
worker as real processes, and the CPU other processes use meanwhile."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIO = ROOT / ".venv" / "bin" / "studio"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


SEED_TASKS = Path(os.environ.get("STUDIO_TEST_DATA", ROOT.parent / "shared" / "data")) / (
    "seed_tasks.jsonl"
)


def seed_tasks(limit: int) -> list[dict]:
    with SEED_TASKS.open(encoding="utf-8") as lines:
        tasks = [json.loads(line) for line in lines if line.strip()]
    return tasks[:limit]


def prompt_of(task: dict) -> str:
    instance = task["instances"][0]
    return task["instruction"] + (f"\n\n{instance['input']}" if instance["input"] else "")


def seed(url: str, tasks: list[dict], params: dict) -> dict:
    """The database the app serves: people, approved items, a version and a queued tiny
    fine-tune, all through the services. Returns the ids and tokens the run needs."""
    from sqlalchemy.orm import Session

    from app import migrate
    from app.core.protocol import JobParams
    from app.datasets import freezing
    from app.datasets.versions import VersionFilter
    from app.db import make_engine
    from app.items import service as items
    from app.items.schemas import ItemDraft
    from app.jobs import service as jobs
    from app.members import service as members
    from app.models import ProjectRole
    from app.projects import service as projects
    from app.reviews import service as reviews
    from app.tokens import service as tokens
    from app.users import service as users

    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:

        def person(role: str):
            return users.create_user(
                session=session, email=f"{role}@bench.example", role=role,
                password="correct-horse-battery", language="en", actor=None,
            )  # fmt: skip

        admin, author, reviewer = person("admin"), person("annotator"), person("reviewer")
        project = projects.create_project(
            session=session, actor=admin, data=projects.ProjectInput(name="Try the model")
        )
        for someone in (author, reviewer):
            role = ProjectRole.for_global_role(someone.role)
            members.add_member(
                session=session, project=project, user=someone, role=role, actor=None
            )
        for task in tasks:
            instance = task["instances"][0]
            draft = ItemDraft(
                kind="task",
                instruction=task["instruction"],
                input=instance["input"],
                output=instance["output"],
            )
            item = items.create_item(
                session=session, project=project, draft=draft, author=author, submit=True
            )
            reviews.decide(
                session=session, item_id=item.id, reviewer=reviewer, decision="approve",
                version=item.version,
            )  # fmt: skip
        version = freezing.create_version(
            session=session, project=project, name="v1", f=VersionFilter(), actor=admin
        )
        job = jobs.launch(
            session=session, version_id=version.id, base_model="tiny", actor=admin,
            params=JobParams(**params),
        )  # fmt: skip
        seeded = {
            "version_id": version.id,
            "job_id": job.id,
            "train_items": version.train_count,
            "eval_items": version.eval_count,
            "admin_token": tokens.create_token(
                session=session, name="bench", scope="user", owner=admin, actor=None
            ).raw,
            "worker_token": tokens.create_token(
                session=session, name="worker", scope="worker", owner=None, actor=None
            ).raw,
        }
        session.commit()
    engine.dispose()
    return seeded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """The app and the worker, each logging to a file; all stopped at the end."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env, self.running = tmp, env, {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.running[name] = (proc, out)
        return proc

    def tail(self, name: str, lines: int = 20) -> str:
        text = (self.tmp / f"{name}.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check(self) -> None:
        for name, (proc, _) in self.running.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.tail(name)}")

    def stop(self) -> None:
        for proc, out in self.running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            out.close()


def _cpu_s(pid: int | str) -> float:
    """CPU seconds (user + system) of a process, or of the machine's busy time for "all"."""
    tick = os.sysconf("SC_CLK_TCK")
    if pid == "all":
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / tick  # less idle and iowait
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / tick


class OtherWork:
    """The share of the machine's CPUs that processes other than this one, the app and the
    worker used while a phase ran: above a few percent, someone else's work shared it."""

    def __init__(self, procs: Processes) -> None:
        self.pids = {"bench": os.getpid()} | {n: p.pid for n, (p, _) in procs.running.items()}
        self.began, self.load = time.perf_counter(), os.getloadavg()
        self.all, self.ours = _cpu_s("all"), {n: _cpu_s(p) for n, p in self.pids.items()}

    def report(self) -> dict:
        seconds = time.perf_counter() - self.began
        ours = {n: _cpu_s(p) - self.ours[n] for n, p in self.pids.items()}
        other = (_cpu_s("all") - self.all) - sum(ours.values())
        return {
            "cpu_other_processes_pct": round(max(0.0, other) / seconds / os.cpu_count() * 100, 1),
            "cores_used": {n: round(cpu / seconds, 2) for n, cpu in ours.items()},
            "seconds": round(seconds, 1),
            "load_average_before": [round(x, 2) for x in self.load],
        }


class InProcess:
    """The worker's try (``trainer.generate._try``) without the app, the queue or HTTP: both
    models loaded from the tuned job's folder, the same chat answered with the same settings."""

    def __init__(self, artifacts: Path, tuned: dict, max_new_tokens: int, tmp: Path) -> None:
        import torch
        from transformers.utils import logging as hf_logging

        from app.core.protocol import JobParams, StartFrom

        hf_logging.disable_progress_bar()
        self.torch, self.tuned, self.tmp, self.runs = torch, tuned, tmp, 0
        self.max_new_tokens = max_new_tokens
        self.default_threads = torch.get_num_threads()  # torch's default, as the worker's
        self.params = JobParams(**tuned["params"])
        self.start = StartFrom(
            job_id=tuned["id"],
            method=self.params.method,
            artifact_dir=str(artifacts / "jobs" / str(tuned["id"])),
        )

    def once(self, prompt: str, threads: int | None = None) -> dict:
        from app.core.generation import GenerationSpec
        from app.core.job_paths import JobFolder
        from app.core.protocol import JobSpec
        from trainer.generate import Generator
        from trainer.start import load_start, starting_weights

        torch, self.runs = self.torch, self.runs + 1
        folder = self.tmp / f"run-{self.runs}"  # load_start writes start.json into it
        messages = [{"role": "user", "content": prompt}]
        gen = GenerationSpec(task="try", messages=messages, max_new_tokens=self.max_new_tokens)
        spec = JobSpec(
            job_id=0, attempt=1, kind="generate", generation=gen,
            base_model=self.tuned["base_model"], params=self.params, lease_seconds=600,
            artifact_dir=str(folder), start_from=self.start,
        )  # fmt: skip
        torch.set_num_threads(threads or self.default_threads)
        try:
            began = time.perf_counter()
            model, tokenizer = load_start(spec, [], JobFolder(folder))
            base = starting_weights(spec, JobFolder(Path(self.start.artifact_dir)), seen=set())
            loaded = time.perf_counter()
            torch.manual_seed(gen.seed)
            answers = {
                name: Generator(m, tokenizer, gen).chat([messages])[0]
                for name, m in (("base", base), ("tuned", model))
            }
            end = time.perf_counter()
        finally:
            torch.set_num_threads(self.default_threads)
        return {
            "total_s": round(end - began, 3),
            "load_s": round(loaded - began, 3),
            "generate_s": round(end - loaded, 3),
            # The answer tokenized again: about the tokens generated (the cap when not stopped).
            "answer_tokens": {
                k: len(tokenizer(text, add_special_tokens=False).input_ids)
                for k, (text, _) in answers.items()
            },
            "stopped_at_end_of_turn": {k: done for k, (_, done) in answers.items()},
        }
