"""What the API fuzzing works on: seeded rows the generated requests can reach, and the values
no generator guesses.

Most cases get real ids in their paths, queries and bodies (never the fuzzing admin's own id or
the tokens it calls with), and positive cases of the operations whose 2xx needs more than the
schema says (an item's current version, a job's attempt, a review reason, item content that
passes its kind's rules) get a body drawn from a strategy that keeps those rules. A quarter of
the cases go out exactly as Schemathesis generated them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import protocol
from app.core.formats import writers
from app.core.generation import GenerationSpec
from app.core.job_paths import JobFolder
from app.core.status import REASONS
from app.datasets import freezing
from app.datasets.versions import VersionFilter
from app.items import service as items
from app.items.repository import ItemFilter
from app.items.schemas import ItemDraft
from app.jobs import preflight as preflights
from app.jobs import service as jobs
from app.jobs.generation import launch as generation
from app.models import (
    ApiToken,
    BackgroundTask,
    EvalPrediction,
    EvalRoundPrompt,
    ImportJob,
    Item,
    Job,
    User,
)
from tests.dataset_factories import approved_project
from tests.eval_factories import fuzzed_rounds
from tests.factories import join, make_token, make_user

WORKER_REPORTS = ("heartbeat", "metrics", "logs", "dynamics", "predictions", "complete", "fail",
                  "cancelled")  # fmt: skip


@dataclass
class Seeded:
    """The rows the fuzzer works on, and the bearer tokens of its two principals."""

    tokens: dict[str, str]  # principal -> raw bearer token
    ids: dict[str, list[int]] = field(default_factory=dict)  # parameter name -> real ids
    # Narrower choices where an operation's 2xx needs them: operation -> name -> ids.
    narrower: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    version_items: list[int] = field(default_factory=list)  # in the jobs' dataset version
    eval_job: int = 0  # the finished job evaluation rounds compare
    item_versions: dict[int, int] = field(default_factory=dict)
    user_versions: dict[int, int] = field(default_factory=dict)
    job_attempts: dict[int, int] = field(default_factory=dict)


def _launch(session: Session, version, owner) -> Job:
    return jobs.launch(
        session=session,
        version_id=version.id,
        base_model="tiny",
        params=protocol.JobParams(max_steps=4),
        actor=owner,
    )


def _claim(
    app: FastAPI, worker_token: str, expected: int, *, what: str = "jobs", kinds=("finetune",)
) -> None:
    """The worker claims through the API, as a real one does, so the job (or the pre-flight
    check, ``what="preflights"``) is its own."""
    with TestClient(app, raise_server_exceptions=True) as client:
        answer = client.post(
            f"/api/v1/worker/{what}/claim",
            json={"worker": "fuzz-host:1", "kinds": list(kinds)},
            headers={"Authorization": f"Bearer {worker_token}"},
        )
    key = "preflight_id" if what == "preflights" else "job_id"
    assert answer.status_code == 200 and answer.json()[key] == expected, answer.text


def _drafting(session: Session, app: FastAPI, project, owner) -> int:
    """A generation job drafting the output of a prompt that has none (committed)."""
    prompt = items.create_item(
        session=session,
        project=project,
        author=owner,
        draft=ItemDraft(kind="task", instruction="Name a river that crosses three countries."),
    )
    job = generation.launch(
        session=session,
        project_id=project.id,
        spec=GenerationSpec(task="draft"),
        base_model="tiny",
        actor=owner,
        item_filter=ItemFilter(project_id=project.id, item_ids=(prompt.id,)),
        artifacts_root=app.state.settings.resolved_artifacts_dir,
    )
    session.commit()
    return job.id


def _check(session: Session, version, owner) -> int:
    """A pre-flight check of the launch the fuzzer makes (committed)."""
    row = preflights.create(
        session=session,
        version_id=version.id,
        base_model="tiny",
        params=protocol.JobParams(max_steps=4),
        actor=owner,
    )
    session.commit()
    return row.id


def seed_rows(session: Session, app: FastAPI) -> Seeded:
    """A project of approved, submitted and draft items, a dataset version, jobs cancelled,
    running (one asked to cancel) and queued, evaluation rounds in a project of their own, and
    the admin and worker that act."""
    admin = make_user(session, role="admin", email="fuzz-admin@example.org")
    admin_token = make_token(session, scope="user", owner=admin)
    evaluation = fuzzed_rounds(session)
    worker_token = make_token(session, scope="worker")
    make_token(session, scope="worker")  # one the fuzzer may revoke
    project, owner, approved = approved_project(session, name="Fuzzed project")
    author = make_user(session, email="fuzz-author@example.org")
    join(session, project, author)  # someone the fuzzer can assign work to
    leaver = make_user(session, email="fuzz-leaver@example.org")
    join(session, project, leaver)  # the member the fuzzer may remove
    # Someone outside the project, whom the fuzzer may add as a member.
    newcomer = make_user(session, role="reviewer", email="fuzz-reviewer@example.org")
    for n, submit in enumerate([True, True, True, False, False]):
        items.create_item(
            session=session,
            project=project,
            author=author,
            submit=submit,
            draft=ItemDraft(
                kind="task",
                instruction=f"Write a haiku about the number {n}.",
                output=f"Number {n} / sits alone on the page / waiting for a friend",
            ),
        )
    version = freezing.create_version(
        session=session, project=project, name="v1", f=VersionFilter(), actor=owner
    )
    cancelled = _launch(session, version, owner)
    jobs.cancel(session=session, job_id=cancelled.id, actor=owner)
    running = _launch(session, version, owner)
    session.commit()
    _claim(app, worker_token, running.id)
    stopping = _launch(session, version, owner)
    session.commit()
    _claim(app, worker_token, stopping.id)
    session.expire_all()  # the claims changed the jobs behind this session's back
    jobs.cancel(session=session, job_id=stopping.id, actor=owner)
    queued = _launch(session, version, owner)
    # Pre-flight checks: one the fuzzing worker runs, one waiting.
    checking = _check(session, version, owner)
    _claim(app, worker_token, checking, what="preflights")
    waiting = _check(session, version, owner)
    drafting = _drafting(session, app, project, owner)
    _claim(app, worker_token, drafting, kinds=("generate",))
    # The evaluation project's finished job has its model in the store: it can be tried.
    folder = JobFolder.of(app.state.settings.resolved_artifacts_dir, evaluation["job"])
    folder.model.mkdir(parents=True, exist_ok=True)
    folder.base.mkdir(parents=True, exist_ok=True)
    # Background tasks: one queued (the fuzzer may cancel it), one running and one failed
    # (the fuzzer may retry it).
    tasks = [
        BackgroundTask(kind="freeze", project_id=project.id, state=state, attempts=attempts)
        for state, attempts in (("queued", 0), ("running", 1), ("failed", 3))
    ]
    session.add_all(tasks)
    upload = ImportJob(
        project_id=project.id,
        filename="done.jsonl",
        path="/nonexistent/done.jsonl",
        file_hash="0" * 64,
        size=1,
        container="jsonl",
        schema="alpaca",
        state="done",
    )
    session.add(upload)
    session.commit()
    session.expire_all()
    every_item = list(session.scalars(select(Item).where(Item.project_id == project.id)))
    users = list(session.scalars(select(User).where(User.id != admin.id)))
    acting = {admin_token, worker_token}
    every_job = [cancelled.id, running.id, stopping.id, queued.id, drafting]
    # Pairs are made from the closed round and improve its outputs and the finished job's.
    closed_prompts = list(
        session.scalars(
            select(EvalRoundPrompt.id).where(EvalRoundPrompt.round_id == evaluation["closed"])
        )
    )
    eval_outputs = list(
        session.scalars(
            select(EvalPrediction.item_id).where(EvalPrediction.job_id == evaluation["job"])
        )
    )
    return Seeded(
        tokens={"admin": admin_token, "worker": worker_token},
        ids={
            "project_id": [project.id],
            "item_id": [i.id for i in every_item],
            "version_id": [version.id],
            "dataset_version_id": [version.id],
            "job_id": every_job,
            "preflight_id": [checking, waiting],
            "task_id": [t.id for t in tasks],
            "import_id": [upload.id],
            "round_id": [evaluation["open"], evaluation["closed"]],
            "prompt_id": [evaluation["prompt"]],
            # Never the fuzzing admin, nor the tokens it calls with.
            "user_id": [u.id for u in users],
            "token_id": [
                t.id
                for t in session.scalars(select(ApiToken))
                if not any(raw.startswith(t.prefix) for raw in acting)
            ],
        },
        narrower={
            # The jobs the fuzzing worker runs.
            **{
                f"POST /api/v1/worker/jobs/{{job_id}}/{report}": {
                    "job_id": [running.id, stopping.id]
                }
                for report in WORKER_REPORTS
            },
            # The generation job the fuzzing worker runs, and the job whose model it may try.
            **{
                f"{method} /api/v1/worker/jobs/{{job_id}}/{what}": {"job_id": [drafting]}
                for method, what in (("GET", "inputs"), ("POST", "generations"))
            },
            "POST /api/v1/jobs/{job_id}/try": {"job_id": [evaluation["job"]]},
            # The check the fuzzing worker runs.
            **{
                f"POST /api/v1/worker/preflights/{{preflight_id}}/{answer}": {
                    "preflight_id": [checking]
                }
                for answer in ("report", "fail")
            },
            # An edit keeps the item's kind: the good body writes a task.
            "PUT /api/v1/items/{item_id}": {
                "item_id": [i.id for i in every_item if i.kind == "task"]
            },
            "POST /api/v1/items/{item_id}/review": {
                "item_id": [i.id for i in every_item if i.status == "submitted"]
            },
            "POST /api/v1/projects/{project_id}/members": {"user_id": [newcomer.id]},
            "PATCH /api/v1/projects/{project_id}/members/{user_id}": {"user_id": [author.id]},
            "DELETE /api/v1/projects/{project_id}/members/{user_id}": {"user_id": [leaver.id]},
            "POST /api/v1/items/{item_id}/reopen": {
                "item_id": [i.id for i in every_item if i.status == "approved"]
            },
            # Rounds are made from the evaluation project's finished job; judging and
            # closing need the round that is still open.
            **{
                f"{method} /api/v1/projects/{{project_id}}/{what}": {
                    "project_id": [evaluation["project"]]
                }
                for method, what in (("GET", "rounds"), ("POST", "rounds"), ("GET", "leaderboard"))
            },
            "POST /api/v1/rounds/{round_id}/judgments": {"round_id": [evaluation["open"]]},
            "POST /api/v1/rounds/{round_id}/close": {"round_id": [evaluation["open"]]},
            "GET /api/v1/rounds/{round_id}/pairs": {"round_id": [evaluation["closed"]]},
            "POST /api/v1/rounds/{round_id}/pairs": {"round_id": [evaluation["closed"]]},
            "POST /api/v1/rounds/{round_id}/prompts/{prompt_id}/improve": {
                "round_id": [evaluation["closed"]],
                "prompt_id": closed_prompts,
            },
            "POST /api/v1/jobs/{job_id}/predictions/{item_id}/improve": {
                "job_id": [evaluation["job"]],
                "item_id": eval_outputs,
            },
        },
        version_items=[i.id for i in approved],
        eval_job=evaluation["job"],
        item_versions={i.id: i.version for i in every_item},
        user_versions={u.id: u.version for u in users},
        job_attempts={j: session.get(Job, j).attempts for j in every_job},
    )


def _hint(seeded: Seeded, label: str, name: str, chosen: dict) -> st.SearchStrategy | None:
    """A realistic value for parameter or body field ``name``, given the ids already chosen."""
    if name == "version" and "item_id" in chosen:
        return st.just(seeded.item_versions.get(chosen["item_id"], 1))
    if name == "version" and "user_id" in chosen:
        return st.just(seeded.user_versions.get(chosen["user_id"], 1))
    if name == "attempt" and "job_id" in chosen:
        return st.just(seeded.job_attempts.get(chosen["job_id"], 1))
    if name in seeded.narrower.get(label, {}):
        return st.sampled_from(seeded.narrower[label][name])
    if name == "reason":
        return st.sampled_from(sorted(REASONS))
    if name == "format":
        return st.sampled_from(writers.FORMATS)
    if name == "base_model":
        return st.just("tiny")
    if name == "email":
        return st.from_regex(r"\A[a-z]{1,12}@example\.org\Z")
    if seeded.ids.get(name):
        return st.sampled_from(seeded.ids[name])
    return None


def tune(case, label: str, data: st.DataObject, seeded: Seeded, bodies: dict | None) -> None:
    """Three cases in four: real ids where the case names them; with ``bodies``, a body that
    passes the operation's rules."""
    if not data.draw(st.integers(0, 3), label="tune"):
        return
    chosen: dict = {}
    for part in (case.path_parameters, case.query):
        for name in list(part or {}):
            hint = _hint(seeded, label, name, chosen)
            if hint is not None:
                part[name] = chosen[name] = data.draw(hint, label=name)
    if bodies and label in bodies:
        case.body = data.draw(bodies[label], label="body")
    if isinstance(case.body, dict) and bodies is not None:
        for name in list(case.body):
            hint = _hint(seeded, label, name, chosen)
            if hint is not None:
                case.body[name] = data.draw(hint, label=name)
