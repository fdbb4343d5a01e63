"""Before it trains, a worker checks that the items it received hash to the manifest of the
version it was asked to train on: through the real worker API, with every kind of item."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from app.core import protocol
from app.core.job_paths import API_ROOT, WorkerPath
from app.datasets import freezing, versions
from app.datasets.versions import VersionFilter
from app.jobs import queue
from app.jobs import service as jobs
from app.models import ItemRevision
from app.tokens import service as tokens
from tests.dataset_factories import approved_project
from trainer.job import Dataset, DatasetMismatch, check_manifest


def _received(client, version_id: int, token: str) -> tuple[protocol.DatasetManifest, Dataset]:
    """What a worker fetches: the manifest and both splits, page by page."""
    headers = {"Authorization": f"Bearer {token}"}
    url = API_ROOT + WorkerPath.MANIFEST.format(version_id=version_id)
    manifest = protocol.DatasetManifest.model_validate(client.get(url, headers=headers).json())
    splits = {}
    for split in ("train", "eval"):
        items, after = [], -1
        while after is not None:
            page = protocol.DatasetSplitPage.model_validate(
                client.get(
                    API_ROOT + WorkerPath.SPLIT.format(version_id=version_id, split=split),
                    params={"after": after, "limit": 5},
                    headers=headers,
                ).json()
            )
            items += page.items
            after = page.next_cursor
        splits[split] = items
    return manifest, Dataset(train=splits["train"], eval=splits["eval"])


@pytest.fixture
def version(db_session):
    project, admin, _ = approved_project(db_session, name="Manifest check")
    version = freezing.create_version(
        session=db_session, project=project, name="v", f=VersionFilter(), actor=admin
    )
    jobs.launch(
        session=db_session,
        version_id=version.id,
        base_model="tiny",
        params=protocol.JobParams(max_steps=1),
        actor=admin,
    )
    return version


def _worker(db_session) -> str:
    """A worker token that claimed the job on the version: only such a token may read it."""
    issued = tokens.create_token(
        session=db_session, name="w", scope="worker", owner=None, actor=None
    )
    assert queue.claim(session=db_session, worker="w", token_id=issued.token.id) is not None
    return issued.raw


def test_the_items_a_worker_receives_hash_to_the_manifest(client, db_session, version):
    manifest, data = _received(client, version.id, _worker(db_session))
    kinds = {i.content.kind for i in data.train + data.eval}
    assert kinds == {"task", "constraint", "example"}  # demos, constraints and CJK included
    assert (len(data.train), len(data.eval)) == (version.train_count, version.eval_count)
    check_manifest(manifest, data)  # no exception: the hashes agree


def test_a_changed_revision_fails_the_check_with_a_clear_message(client, db_session, version):
    link, revision = next(iter(versions.pinned(db_session, version.id, "train")))
    changed = {**revision.snapshot, "output": revision.snapshot["output"] + " (edited)"}
    db_session.execute(
        update(ItemRevision).where(ItemRevision.id == revision.id).values(snapshot=changed)
    )
    db_session.expire_all()
    manifest, data = _received(client, version.id, _worker(db_session))
    with pytest.raises(DatasetMismatch) as raised:
        check_manifest(manifest, data)
    message = str(raised.value)
    assert f"Dataset version {version.id}" in message
    assert "do not match its manifest" in message
    assert version.manifest_hash[:12] in message
    assert "freeze a new version" in message
