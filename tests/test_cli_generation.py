"""`studio jobs generate` as a real process: it queues a generation job over a filter (or
chosen ids) with settings, refuses bad settings with a sentence, and `studio jobs show`
and `list` describe it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.protocol import JobParams
from app.datasets import freezing
from app.datasets.versions import VersionFilter
from app.items import service as items
from app.items.schemas import ItemDraft
from app.jobs import service as jobs
from app.models import GenerationInput, Job, Project, User
from tests.dataset_factories import approved_project
from tests.test_cli_datasets import as_json, seeded, studio


def _project(session: Session) -> dict:
    project, admin, approved = approved_project(session, name="Prompts")
    author = session.get(User, approved[0].author_id)
    prompts = [
        items.create_item(
            session=session,
            project=project,
            author=author,
            draft=ItemDraft(kind="task", instruction=f"Write a limerick about the number {n}."),
        )
        for n in range(3)
    ]
    return {"project": project.id, "admin": admin.email, "prompts": [p.id for p in prompts]}


@pytest.fixture
def setup(backend, tmp_path):
    with seeded(backend, tmp_path, _project) as ready:
        yield ready


def test_generate_queues_a_job_over_a_filter_and_show_describes_it(setup):
    env, engine, seed = setup
    done = studio(
        env,
        "jobs",
        "generate",
        "Prompts",
        "--task",
        "draft",
        "--status",
        "draft",
        "--set",
        "max_new_tokens=32",
        "--set",
        "temperature=0.5",
        "--as",
        seed["admin"],
    )
    assert done.returncode == 0, done.stderr
    job_id = int(
        re.search(r"queued generation job (\d+) \(draft with tiny\) reading 3 items", done.stdout)[
            1
        ]
    )
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert job.kind == "generate" and job.generation["max_new_tokens"] == 32
        assert job.generation["temperature"] == 0.5
        pinned = set(
            session.scalars(select(GenerationInput.item_id).where(GenerationInput.job_id == job_id))
        )
        assert pinned == set(seed["prompts"])
    shown = as_json(studio(env, "jobs", "show", str(job_id), "--json"))
    assert shown["kind"] == "generate" and shown["generation"]["task"] == "draft"
    assert shown["inputs"] == {"pending": 3}
    listed = as_json(studio(env, "jobs", "list", "--json"))
    assert {"id": job_id, "kind": "generate", "task": "draft"}.items() <= next(
        row for row in listed if row["id"] == job_id
    ).items()


def test_chosen_ids_and_bad_settings(setup):
    env, engine, seed = setup
    one = seed["prompts"][0]
    done = studio(
        env,
        "jobs",
        "generate",
        "Prompts",
        "--task",
        "draft",
        "--ids",
        str(one),
        "--as",
        seed["admin"],
    )
    assert "reading 1 items" in done.stdout, done.stderr
    bad = studio(env, "jobs", "generate", "Prompts", "--task", "draft", "--set", "top_p=0")
    assert bad.returncode != 0 and "top_p" in bad.stderr
    nothing = studio(
        env,
        "jobs",
        "generate",
        "Prompts",
        "--task",
        "draft",
        "--status",
        "approved",
        "--as",
        seed["admin"],
    )
    assert nothing.returncode != 0 and "needs an output" in nothing.stderr


def test_try_refuses_a_job_without_a_tuned_model(setup):
    env, engine, seed = setup
    with Session(engine) as session:
        project = session.get(Project, seed["project"])
        admin = session.scalar(select(User).where(User.email == seed["admin"]))
        version = freezing.create_version(
            session=session, project=project, name="v", f=VersionFilter(), actor=admin
        )
        queued = jobs.launch(
            session=session,
            version_id=version.id,
            base_model="tiny",
            actor=admin,
            params=JobParams(),
        )
        session.commit()
        queued_id = queued.id
    done = studio(env, "jobs", "try", str(queued_id), "Say hello.", "--wait", "0")
    assert done.returncode != 0 and "has not succeeded" in done.stderr
    missing = studio(env, "jobs", "try", str(queued_id + 1000), "Say hello.", "--wait", "0")
    assert missing.returncode != 0 and f"No job with id {queued_id + 1000}." in missing.stderr
