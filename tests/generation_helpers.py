"""Generation jobs over the JSON API in tests, the test playing the worker with its own token:
a project with prompts to draft (``setting``), launching, claiming, reading inputs and sending
answers; ``drafting`` launches a draft job and claims it in one step."""

from __future__ import annotations

import pytest

from app.core.job_paths import API_ROOT, WorkerPath
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import User
from tests.api_helpers import bearer
from tests.dataset_factories import approved_project
from tests.factories import make_token

PROMPTS = [
    "Name three rivers in Europe and say which country each flows through.",
    "Write a haiku about a quiet morning in the mountains.",
]


def launch(client, headers, project_id, **body):
    return client.post(f"/api/v1/projects/{project_id}/generation-jobs", json=body, headers=headers)


def claim(client, worker):
    response = client.post(
        API_ROOT + WorkerPath.CLAIM, json={"worker": "w", "kinds": ["generate"]}, headers=worker
    )
    assert response.status_code == 200, response.text
    return response.json()


def inputs(client, worker, spec):
    url = API_ROOT + WorkerPath.INPUTS.format(job_id=spec["job_id"])
    response = client.get(url, params={"attempt": spec["attempt"]}, headers=worker)
    assert response.status_code == 200, response.text
    return response.json()["inputs"]


def send(client, worker, spec, **batch):
    url = API_ROOT + WorkerPath.GENERATIONS.format(job_id=spec["job_id"])
    return client.post(url, json={"attempt": spec["attempt"], **batch}, headers=worker)


@pytest.fixture
def setting(db_session):
    """A project of approved tasks plus two prompts without outputs, its admin, the prompts'
    author and a worker token's headers."""
    project, admin, approved = approved_project(db_session, name="Generation API")
    author = db_session.get(User, approved[0].author_id)
    prompts = [
        items.create_item(
            session=db_session,
            project=project,
            draft=ItemDraft(kind="task", instruction=text, language="en"),
            author=author,
        )
        for text in PROMPTS
    ]
    worker = {"Authorization": f"Bearer {make_token(db_session, scope='worker', owner=None)}"}
    return project, admin, author, prompts, worker


def drafting(client, db_session, setting, **items_filter) -> tuple[dict, dict[int, dict]]:
    """A draft job over the setting's project (``items_filter``: the launch's ``items``),
    claimed by the setting's worker: its spec, and its inputs by item id."""
    project, admin, _, _, worker = setting
    body = {"generation": {"task": "draft"}, "base_model": "tiny"}
    if items_filter:
        body["items"] = items_filter
    response = launch(client, bearer(db_session, admin), project.id, **body)
    assert response.status_code == 201, response.text
    spec = claim(client, worker)
    return spec, {i["item_id"]: i for i in inputs(client, worker, spec)}
