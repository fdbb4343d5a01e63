"""Try the model: how long a person waits for the tiny model's answers, with the worker idle and
while it trains another job.

A fresh SQLite database is seeded through the services (an admin, a project of approved
Self-Instruct seed tasks, a frozen version) and a tiny fine-tune is queued; the real app
(``studio serve``) and one real worker (``python -m trainer``) run it. Then:

1. ``idle``: tries one after another (``POST /api/v1/jobs/{id}/try``, then ``GET`` the try
   every 0.1 s, ``--check-every``, until it has answered), each after a random pause of up to
   one poll interval so that the worker's poll falls anywhere. Per try: the wall time, the
   wait for a claim (``created_at`` to ``started_at``) and the worker's loading and answering
   (``started_at`` to ``finished_at``); p50 and max, and whether the max is within the 10 s
   budget.
2. ``in_process``: the baseline, in this process right after each try: the same two models
   loaded from the job's folder as the worker loads them and the same prompt answered with the
   same settings (and again with one torch thread, ``one_thread``); ``ratios`` compares the
   wall time (and the worker's part of it) with it.
3. ``busy``: a longer fine-tune is launched and, once it trains, two tries are asked; what the
   API and the try page show while they wait is recorded, then the long job is cancelled and
   the time until each try answered is measured from the cancel.

Prints one JSON object; progress goes to stderr. Run as ``.venv/bin/python bench/try_model.py``
(about 1½ minutes on a quiet 2-core machine, longer when shared). The seed tasks are read from
``$STUDIO_TEST_DATA/seed_tasks.jsonl`` (default ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: bench/trainer.py would shadow the `trainer` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import httpx  # noqa: E402

BUDGET_S = 10.0  # the issue: an idle worker's answer within 10 s on two cores
STUDIO = ROOT / ".venv" / "bin" / "studio"
DONE = ("succeeded", "failed", "cancelled")


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


CHECK_EVERY_S = [0.1]  # how often the client reads a job it waits for (--check-every)


def wait_for(api: httpx.Client, procs: Processes, job_id: int, until, timeout: float) -> dict:
    """The job as the API shows it once ``until(job)`` holds, read every ``CHECK_EVERY_S``."""
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/api/v1/jobs/{job_id}").raise_for_status().json()
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job['status']} after {timeout:.0f} s")
        procs.check()
        time.sleep(CHECK_EVERY_S[0])


def span(job: dict, since: str, until: str) -> float | None:
    if not job.get(since) or not job.get(until):
        return None
    return (datetime.fromisoformat(job[until]) - datetime.fromisoformat(job[since])).total_seconds()


def ask(api: httpx.Client, job_id: int, prompt: str, max_new_tokens: int) -> dict:
    body = {"prompt": prompt, "max_new_tokens": max_new_tokens}
    return api.post(f"/api/v1/jobs/{job_id}/try", json=body).raise_for_status().json()


def try_figures(job: dict, wall_s: float) -> dict:
    answers = (job.get("metrics") or {}).get("answers") or {}
    claim, run = span(job, "created_at", "started_at"), span(job, "started_at", "finished_at")
    return {
        "try_id": job["id"],
        "status": job["status"],
        "wall_s": round(wall_s, 3),
        "claim_wait_s": None if claim is None else round(claim, 3),
        "worker_run_s": None if run is None else round(run, 3),
        "answer_chars": {k: len(v) for k, v in answers.items()},
        "error": job.get("error"),
    }


def summary(values: list[float]) -> dict:
    return {
        "p50": round(statistics.median(values), 3),
        "max": round(max(values), 3),
        "min": round(min(values), 3),
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


def idle_tries(api, procs, job_id, prompts, max_new_tokens, poll, rng, baseline) -> dict:
    """Each try end to end, then the same prompt in-process (the worker is idle meanwhile), so
    that both see the machine alike."""
    baseline.once(prompts[0])  # first calls (kernels) in this process, not timed
    tries, runs, one_thread = [], [], []
    for i, prompt in enumerate(prompts):
        pause = rng.uniform(0, poll)
        time.sleep(pause)  # a person reads the last answer and types; the poll falls anywhere
        began = time.perf_counter()
        asked = ask(api, job_id, prompt, max_new_tokens)
        done = wait_for(api, procs, asked["id"], lambda j: j["status"] in DONE, 120)
        tries.append(try_figures(done, time.perf_counter() - began) | {"pause_s": round(pause, 2)})
        runs.append(baseline.once(prompt))
        # Not the worker's setting: whether one thread answers as fast, and keeps its speed
        # when other work shares the cores (threads that wait on each other do not).
        one_thread.append(baseline.once(prompt, threads=1))
        log(
            f"idle try {i + 1}/{len(prompts)}: {tries[-1]['wall_s']:.2f} s ({done['status']}), "
            f"in-process {runs[-1]['total_s']:.2f} s, one thread {one_thread[-1]['total_s']:.2f} s"
        )
    ok = [t for t in tries if t["status"] == "succeeded"]
    walls = [t["wall_s"] for t in ok]
    idle = {
        "tries": tries,
        "succeeded": len(ok),
        "wall_s": summary(walls) if ok else None,
        "claim_wait_s": summary([t["claim_wait_s"] for t in ok]) if ok else None,
        "worker_run_s": summary([t["worker_run_s"] for t in ok]) if ok else None,
        "max_within_budget": bool(ok) and len(ok) == len(tries) and max(walls) <= BUDGET_S,
    }
    parts = ("total", "load", "generate")
    in_process = {
        "torch_threads": baseline.default_threads,
        "runs": runs,
        **{f"{k}_s": summary([r[f"{k}_s"] for r in runs]) for k in parts},
        "one_thread": {f"{k}_s": summary([r[f"{k}_s"] for r in one_thread]) for k in parts},
    }
    return {"idle": idle, "in_process": in_process, "ratios": ratios(idle, in_process)}


def ratios(idle: dict, baseline: dict) -> dict:
    """End to end (and the worker's part) over the in-process baseline: of the p50s, and the
    median of each try's own ratio (same prompt, same answers, run just after)."""
    if not idle["succeeded"]:
        return {}
    paired = [
        (t["wall_s"], t["worker_run_s"], b["total_s"])
        for t, b in zip(idle["tries"], baseline["runs"], strict=True)
        if t["status"] == "succeeded"
    ]
    base_p50 = baseline["total_s"]["p50"]
    return {
        "end_to_end_over_in_process_p50": round(idle["wall_s"]["p50"] / base_p50, 2),
        "worker_run_over_in_process_p50": round(idle["worker_run_s"]["p50"] / base_p50, 2),
        "end_to_end_over_in_process_paired_median": round(
            statistics.median(w / b for w, _, b in paired), 2
        ),
        "worker_run_over_in_process_paired_median": round(
            statistics.median(r / b for _, r, b in paired), 2
        ),
    }


QUEUE_TEXT = re.compile(r'id="try-queue-(\d+)"[^>]*>(.*?)</p>', re.S)


def page_queue(api: httpx.Client, job_id: int) -> dict[int, str]:
    """The queue line the try page shows under each waiting try."""
    html = api.get(f"/jobs/{job_id}/try").raise_for_status().text
    return {
        int(i): " ".join(re.sub(r"<[^>]+>", "", t).split()) for i, t in QUEUE_TEXT.findall(html)
    }


def busy_tries(api, procs, seeded, tuned_id, prompts, max_new_tokens, long_params) -> dict:
    body = {"dataset_version_id": seeded["version_id"], "base_model": "tiny", "params": long_params}
    long_job = api.post("/api/v1/jobs", json=body).raise_for_status().json()
    training = wait_for(
        api, procs, long_job["id"], lambda j: j["step"] > 0 or j["status"] in DONE, 300
    )
    if training["status"] != "running":
        return {"skipped": f"the long job was {training['status']} before any try was asked"}
    log(f"long job {long_job['id']} training (step {training['step']}); asking two tries")
    asked = [ask(api, tuned_id, p, max_new_tokens) for p in prompts[:2]]
    seen = []
    for _ in range(3):  # what a person watching sees over a few seconds
        shown = page_queue(api, tuned_id)
        api_status = [api.get(f"/api/v1/jobs/{a['id']}").json()["status"] for a in asked]
        seen.append({"api_status": api_status, "page": [shown.get(a["id"]) for a in asked]})
        time.sleep(1)
    step_at_cancel = api.get(f"/api/v1/jobs/{long_job['id']}").json()["step"]
    cancelled_at = time.perf_counter()
    api.post(f"/api/v1/jobs/{long_job['id']}/cancel").raise_for_status()
    stopped = wait_for(api, procs, long_job["id"], lambda j: j["status"] in DONE, 120)
    stopped_s = time.perf_counter() - cancelled_at
    results = []
    for a in asked:
        done = wait_for(api, procs, a["id"], lambda j: j["status"] in DONE, 120)
        results.append(try_figures(done, time.perf_counter() - cancelled_at))
    return {
        "long_job": {
            "id": long_job["id"],
            "params": long_params,
            "step_when_tries_asked": training["step"],
            "step_at_cancel": step_at_cancel,
            "status_after_cancel": stopped["status"],
            "cancel_to_stopped_s": round(stopped_s, 3),
        },
        "while_waiting": seen,
        "after_cancel": results,
        "note": "wall_s of each try counts from the cancel; claim_wait_s from the ask",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=5, help="tries with the worker idle")
    parser.add_argument("--items", type=int, default=40, help="approved seed tasks to train on")
    parser.add_argument("--max-steps", type=int, default=20, help="the tuned job's steps")
    parser.add_argument("--long-steps", type=int, default=300, help="the busy worker's job")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="the try form's default")
    parser.add_argument("--poll", type=float, default=None, help="the worker's --poll (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the pauses between tries")
    parser.add_argument(
        "--check-every",
        type=float,
        default=0.1,
        help="seconds between the client's reads of a job it waits for (the page: 1)",
    )
    parser.add_argument("--record", action="store_true", help="also write docs/benchmarks/")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on Ctrl-C

    from app.jobs.forms import PRESETS

    CHECK_EVERY_S[0] = args.check_every
    if not SEED_TASKS.exists():
        print(json.dumps({"benchmark": "try_model", "skipped": f"{SEED_TASKS} not found"}))
        return

    began, load_at_start = time.perf_counter(), os.getloadavg()
    tasks = seed_tasks(args.items + args.tries + 2)
    train_tasks, ask_tasks = tasks[: args.items], tasks[args.items :]
    prompts = [prompt_of(t) for t in ask_tasks]
    params = {**PRESETS["tiny"], "max_steps": args.max_steps}
    long_params = {**PRESETS["tiny"], "max_steps": args.long_steps}
    poll = 3.0 if args.poll is None else args.poll
    report: dict = {
        "benchmark": "try_model",
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_at_start],
        "budget_s": BUDGET_S,
        "items": len(train_tasks),
        "tuned_params": params,
        "max_new_tokens": args.max_new_tokens,
        "worker_poll_s": poll,
        "client_check_every_s": args.check_every,
        "prompts": "Self-Instruct seed tasks after the trained ones (not in the project)",
    }
    with tempfile.TemporaryDirectory(prefix="studio-try-") as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'studio.db'}"
        artifacts = tmp / "artifacts"
        seeded = seed(url, train_tasks, params)
        report |= {k: seeded[k] for k in ("train_items", "eval_items")}
        env = {
            **os.environ,
            "STUDIO_DATABASE_URL": url,
            "STUDIO_VAR_DIR": str(tmp / "var"),
            "STUDIO_ARTIFACTS_DIR": str(artifacts),
            "STUDIO_SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "STUDIO_ADMIN_PASSWORD": "",
            "STUDIO_WORKER_TOKEN": seeded["worker_token"],  # the worker's, as `studio run` does
        }
        procs = Processes(tmp, env)
        try:
            base_url = f"http://127.0.0.1:{free_port()}"
            procs.start("app", [str(STUDIO), "serve", "--port", base_url.rsplit(":", 1)[1]])
            worker = [sys.executable, "-m", "trainer", "--url", base_url, "--exit-with-parent"]
            worker += [] if args.poll is None else ["--poll", str(args.poll)]
            headers = {"Authorization": f"Bearer {seeded['admin_token']}"}
            with httpx.Client(base_url=base_url, headers=headers, timeout=60) as api:
                deadline = time.monotonic() + 60
                while True:
                    procs.check()
                    try:
                        if api.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("the app did not answer in 60 s:\n" + procs.tail("app"))
                    time.sleep(0.2)
                procs.start("worker", worker)
                job_id = seeded["job_id"]
                tuned = wait_for(api, procs, job_id, lambda j: j["status"] in DONE, 600)
                if tuned["status"] != "succeeded":
                    raise RuntimeError(f"the fine-tune {tuned['status']}: {tuned['error']}")
                report["fine_tune_s"] = round(span(tuned, "created_at", "finished_at"), 2)
                log(f"fine-tune {job_id} succeeded in {report['fine_tune_s']} s")
                rng = random.Random(args.seed)
                machine = OtherWork(procs)
                baseline = InProcess(artifacts, tuned, args.max_new_tokens, tmp / "in-process")
                report |= idle_tries(
                    api, procs, job_id, prompts[: args.tries], args.max_new_tokens, poll, rng,
                    baseline,
                )  # fmt: skip
                report["idle"]["machine"] = machine.report()
                machine = OtherWork(procs)
                report["busy"] = busy_tries(
                    api, procs, seeded, job_id, prompts[args.tries :] or prompts,
                    args.max_new_tokens, long_params,
                )  # fmt: skip
                report["busy"]["machine"] = machine.report()
        except BaseException:
            for name in procs.running:
                log(f"--- {name} log ---\n{procs.tail(name, 40)}")
            raise
        finally:
            procs.stop()
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["total_s"] = round(time.perf_counter() - began, 1)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.record:
        path = ROOT / "docs" / "benchmarks" / f"try-model-{time.strftime('%Y-%m-%d')}.json"
        path.write_text(text + "\n", encoding="utf-8")
        log(f"wrote {path}")


if __name__ == "__main__":
    main()
