"""Dataset versions: frozen from a filter, deterministic splits, the manifest hash across
runs and databases, contamination, diffs, exports that import back, and the pages."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest
from sqlalchemy.orm import Session

from app import migrate
from app.datasets import export, freezing, versions
from app.datasets.versions import VersionFilter
from app.db import make_engine
from app.imports import service as imports
from app.imports.reader import ImportOptions
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import Item
from app.reviews import service as reviews
from tests.dataset_factories import DRAFTS, approved_project
from tests.dbs import fresh_database
from tests.factories import join, make_token, make_user
from tests.helpers import login
from tests.review_factories import make_project


def freeze(session, project, admin, **kwargs):
    return freezing.create_version(
        session=session, project=project, name="v1", f=VersionFilter(**kwargs), actor=admin
    )


class TestVersions:
    def test_pins_approved_items_with_a_stratified_split(self, db_session):
        project, admin, created = approved_project(db_session)
        draft_only = items.create_item(
            session=db_session, project=project, draft=DRAFTS[0], author=admin
        )
        version = freeze(db_session, project, admin)
        assert version.train_count + version.eval_count == len(created)
        pinned = list(versions.pinned(db_session, version.id))
        assert draft_only.id not in {link.item_id for link, _ in pinned}
        eval_kinds = {link.kind for link, _ in pinned if link.split == "eval"}
        assert eval_kinds == {"task", "constraint", "example"}  # every kind is evaluated

    def test_editing_an_item_later_does_not_change_the_version(self, db_session):
        project, admin, created = approved_project(db_session)
        version = freeze(db_session, project, admin)
        before = {
            link.item_id: rev.snapshot["output"]
            for link, rev in versions.pinned(db_session, version.id)
        }
        first = created[0]
        items.update_item(
            session=db_session,
            item_id=first.id,
            expected_version=first.version,
            editor=admin,
            draft=DRAFTS[0].model_copy(update={"output": "Changed"}),
        )
        after = {
            link.item_id: rev.snapshot["output"]
            for link, rev in versions.pinned(db_session, version.id)
        }
        assert before == after

    def test_split_and_manifest_are_deterministic(self, db_session):
        project, admin, _ = approved_project(db_session)
        one, two = freeze(db_session, project, admin), freeze(db_session, project, admin)
        assert one.manifest_hash == two.manifest_hash
        splits = [
            {link.item_id: link.split for link, _ in versions.pinned(db_session, v.id)}
            for v in (one, two)
        ]
        assert splits[0] == splits[1]
        other_seed = freezing.create_version(
            session=db_session, project=project, name="s", f=VersionFilter(), actor=admin, seed=99
        )
        assert other_seed.train_count == one.train_count  # same sizes per kind

    def test_filters(self, db_session):
        project, admin, _ = approved_project(db_session)
        only_examples = freeze(db_session, project, admin, kinds=["example"])
        assert only_examples.train_count + only_examples.eval_count == 4
        with pytest.raises(Exception, match="No items match"):
            freeze(db_session, project, admin, domains=["nowhere"])

    def test_contamination_finds_near_duplicates_across_splits(self, db_session):
        text = (
            "Write a short friendly note to a neighbour asking them to water the plants "
            "while we are away on holiday next week"
        )
        twins = [
            ItemDraft(kind="task", instruction=text + suffix, output="Sure, happy to help.")
            for suffix in (".", "!", " please.", " thanks.", " soon.", " now.")
        ]
        project, admin, _ = approved_project(db_session, drafts=twins)
        version = freezing.create_version(
            session=db_session,
            project=project,
            name="c",
            f=VersionFilter(),
            actor=admin,
            eval_fraction=0.34,
        )
        assert version.eval_count == 2
        assert len(version.contamination) >= 2
        assert all(c["similarity"] >= 0.5 for c in version.contamination)

    def test_diff_between_versions(self, db_session):
        project, admin, created = approved_project(db_session)
        first = freeze(db_session, project, admin)
        changed = created[1]
        items.update_item(
            session=db_session,
            item_id=changed.id,
            editor=admin,
            expected_version=changed.version,
            draft=DRAFTS[1].model_copy(update={"output": "Autre"}),
        )
        reviewer = make_user(db_session, role="reviewer")
        join(db_session, project, reviewer)
        reviews.decide(
            session=db_session,
            item_id=changed.id,
            reviewer=reviewer,
            decision="approve",
            version=db_session.get(Item, changed.id).version,
        )
        second = freeze(db_session, project, admin)
        assert versions.diff(db_session, first.id, second.id) == {
            "added": [],
            "removed": [],
            "changed": [changed.id],
        }


def test_manifest_hash_is_equal_across_sqlite_and_postgresql(tmp_path):
    hashes = []
    for backend in ("sqlite", "postgresql"):
        with fresh_database(backend, tmp_path) as url:
            migrate.upgrade(url)
            engine = make_engine(url)
            with Session(engine) as session:
                make_user(session, role="admin")  # shift ids between the two databases
                project, admin, _ = approved_project(session)
                hashes.append(freeze(session, project, admin).manifest_hash)
            engine.dispose()
    assert hashes[0] == hashes[1]


CHAT_DRAFTS = [
    ItemDraft(
        kind="conversation",
        system="你是一位耐心的数学老师。",
        turns=[
            {"role": "user", "content": "三加四等于几？"},
            {"role": "assistant", "content": "等于七。"},
            {"role": "user", "content": "那再乘以二呢？"},
            {"role": "assistant", "content": "七乘以二等于十四。"},
        ],
        domain="数学",
        tags=["对话"],
    ),
    ItemDraft(
        kind="conversation",
        turns=[
            {"role": "user", "content": "Suggest a name for a bakery."},
            {"role": "assistant", "content": "The Rolling Pin."},
            {"role": "user", "content": "Something French?"},
            {"role": "assistant", "content": "Le Petit Four."},
            {"role": "user", "content": "Shorter."},
            {"role": "assistant", "content": "Fournil."},
        ],
    ),
    ItemDraft(
        kind="conversation",
        system="You are a friendly travel guide.",
        turns=[
            {"role": "user", "content": "One thing to see in Kyoto?"},
            {"role": "assistant", "content": "Fushimi Inari, early in the morning."},
        ],
    ),
    ItemDraft(
        kind="conversation",
        turns=[
            {"role": "user", "content": "你好！"},
            {"role": "assistant", "content": "你好，有什么可以帮你？"},
        ],
    ),
]
# Tasks a chat file carries whole: no input, maybe a system prompt.
CHAT_TASKS = [
    ItemDraft(kind="task", system="Answer in one word.", instruction="Largest ocean?",
              output="Pacific"),
    ItemDraft(kind="task", instruction="把“谢谢”翻译成英文。", output="Thank you."),
    ItemDraft(kind="task", instruction="Name a prime number.", output="7"),
]  # fmt: skip
FORMATS = ["alpaca_json", "alpaca_jsonl", "openai_jsonl", "sharegpt_json", "parquet"]
CONTENT_COLUMNS = ("kind", "instruction", "input", "output", "demos", "constraints", "language",
                   "system", "turns")  # fmt: skip


def _contents(items) -> set[tuple]:
    return {tuple(json.dumps(getattr(i, c), ensure_ascii=False) for c in CONTENT_COLUMNS)
            for i in items}  # fmt: skip


def _reimport(session, tmp_path, files, target, admin, **options) -> int:
    """Import each exported split into ``target`` (as submitted items); the items created."""
    created = 0
    for path in files:
        with path.open("rb") as f:
            job = imports.store_upload(
                session=session,
                project=target,
                filename=path.name,
                stream=f,
                folder=tmp_path / "imports",
                actor=admin,
            )
        options = {"status": "submitted", **options}
        job = imports.run(
            session=session, job_id=job.id, actor=admin, options=ImportOptions(**options)
        )
        assert job.state == "done", (job.message, job.errors)
        created += job.created_items
    return created


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_imports_back_exactly(db_session, tmp_path, fmt):
    """Approved items of every kind (conversations, system prompts, Chinese) → a version →
    the export → a new project: the same items, and a version of them has the same manifest."""
    project, admin, created = approved_project(db_session, drafts=[*DRAFTS, *CHAT_DRAFTS])
    version = freeze(db_session, project, admin)
    files = export.write_folder(db_session, version.id, fmt, tmp_path / "out")
    assert files[0].name == "README.md" and version.manifest_hash in files[0].read_text()
    target = make_project(db_session, admin, name=f"Restored {fmt}")
    assert files[1].parent == tmp_path / "out"
    with files[1].open("rb") as f:
        assert imports.store_upload(
            session=db_session, project=target, filename=files[1].name, stream=f,
            folder=tmp_path / "detect", actor=admin,
        ).schema == "studio"  # fmt: skip
    restored = _reimport(db_session, tmp_path, files[1:], target, admin)
    assert restored == len(created)
    back = db_session.query(Item).filter(Item.project_id == target.id).all()
    assert _contents(back) == _contents(created)
    assert sum(len(i.turns) for i in back) == sum(len(d.turns) for d in CHAT_DRAFTS)
    again = freeze(db_session, target, admin, statuses=["submitted"])
    assert again.manifest_hash == version.manifest_hash


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("drafts", "form"),
    [(CHAT_DRAFTS, "conversation"), (CHAT_TASKS, "task")],
    ids=["chats", "tasks"],
)
def test_without_metadata_chats_come_back_with_the_same_manifest(
    db_session, tmp_path, fmt, drafts, form
):
    """Every format carries a conversation's turns and system prompt, and a task without input
    as its exchange: without our metadata they come back with the same manifest, conversations
    in the conversation form and tasks in the task form.

    The language is not in these files and is detected again, and the split is seeded by the
    content hash, which covers the language: both versions are frozen without an eval split,
    so that the manifests compare the items' words."""
    project, admin, _created = approved_project(db_session, drafts=drafts)
    version = freezing.create_version(
        session=db_session, project=project, name="v1", f=VersionFilter(), actor=admin,
        eval_fraction=0.0,
    )  # fmt: skip
    files = export.write_folder(db_session, version.id, fmt, tmp_path / "out")
    train = files[1]
    assert train.name.startswith("train") and version.eval_count == 0
    _strip_metadata(train, fmt)
    target = make_project(db_session, admin, name=f"Without metadata {fmt}")
    created = _reimport(db_session, tmp_path, [train], target, admin, one_exchange=form)
    assert created == len(drafts)
    again = freezing.create_version(
        session=db_session, project=target, name="v1", f=VersionFilter(statuses=["submitted"]),
        actor=admin, eval_fraction=0.0,
    )  # fmt: skip
    assert again.manifest_hash == version.manifest_hash


def _strip_metadata(path, fmt: str) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(pq.read_table(path).drop_columns(["metadata"]), path)
        return
    text = path.read_text(encoding="utf-8")
    if fmt.endswith("jsonl"):
        rows = [json.loads(line) for line in text.splitlines()]
    else:
        rows = json.loads(text)
    for row in rows:
        del row["metadata"]
    if fmt.endswith("jsonl"):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    else:
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


def test_parquet_export_loads_with_datasets(db_session, tmp_path):
    project, admin, created = approved_project(db_session)
    version = freeze(db_session, project, admin)
    files = export.write_folder(db_session, version.id, "parquet", tmp_path / "pq")
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    from datasets import load_dataset

    loaded = load_dataset(
        "parquet", data_files={p.stem: str(p) for p in files[1:]}, cache_dir=str(tmp_path / "cache")
    )
    assert loaded["train"].num_rows + loaded["eval"].num_rows == len(created)
    assert "metadata" in loaded["train"].column_names


class TestPages:
    def test_freeze_view_and_download(self, client, db_session, run_tasks):
        project, admin, created = approved_project(db_session)
        csrf = login(client, admin.email)
        response = client.post(
            f"/projects/{project.id}/datasets",
            data={
                "csrf_token": csrf,
                "name": "First <release>",
                "eval_fraction": "0.25",
                "seed": "7",
                "statuses": ["approved"],
            },
        )
        assert response.status_code == 303
        task_url = response.headers["location"]
        assert "<progress" in client.get(task_url).text  # queued: the request did not freeze
        assert versions.list_versions(session=db_session, project_id=project.id) == []
        assert len(run_tasks()) == 1
        # The task's page, polling, leads on to the version once the task is done.
        polled = client.get(f"{task_url}/progress?follow=1", headers={"HX-Request": "true"})
        version_url = polled.headers["HX-Redirect"]
        page = client.get(version_url)
        assert page.status_code == 200
        assert "First &lt;release&gt;" in page.text and 'id="manifest"' in page.text
        version_id = int(version_url.rsplit("/", 1)[1])
        download = client.get(f"/datasets/{version_id}/export?format=openai_jsonl")
        assert download.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(download.content))
        assert set(archive.namelist()) == {"README.md", "train.jsonl", "eval.jsonl"}
        lines = archive.read("train.jsonl").decode().splitlines()
        assert json.loads(lines[0])["messages"][0]["role"] == "user"
        bad = client.get(f"/datasets/{version_id}/export?format=xml")
        assert bad.status_code == 422

    def test_worker_reads_manifest_and_splits(self, client, db_session):
        project, admin, created = approved_project(db_session)
        version = freeze(db_session, project, admin)
        headers = {"Authorization": f"Bearer {make_token(db_session, scope='worker')}"}
        # A worker reads a version only while it runs a job on it.
        refused = client.get(f"/api/v1/worker/datasets/{version.id}/manifest", headers=headers)
        assert refused.status_code == 403
        launcher = make_token(db_session, scope="user", owner=admin)
        client.post(
            "/api/v1/jobs",
            headers={"Authorization": f"Bearer {launcher}"},
            json={"dataset_version_id": version.id, "base_model": "tiny"},
        )
        client.post("/api/v1/worker/jobs/claim", headers=headers, json={"worker": "w"})
        manifest = client.get(f"/api/v1/worker/datasets/{version.id}/manifest", headers=headers)
        assert manifest.json()["manifest_hash"] == version.manifest_hash
        seen, after = [], -1
        while True:
            page = client.get(
                f"/api/v1/worker/datasets/{version.id}/splits/train",
                params={"after": after, "limit": 3},
                headers=headers,
            ).json()
            seen += [i["item_id"] for i in page["items"]]
            if page["next_cursor"] is None:
                break
            after = page["next_cursor"]
        assert len(seen) == version.train_count == len(set(seen))


def test_seed_tasks_import_as_175_items(db_session, tmp_path, test_data):
    path = test_data / "seed_tasks.jsonl"
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing")
        pytest.skip(f"{path} is missing")
    admin = make_user(db_session, role="admin")
    project = make_project(db_session, admin, name="Seed tasks")
    with path.open("rb") as f:
        job = imports.store_upload(
            session=db_session,
            project=project,
            filename=path.name,
            stream=f,
            folder=tmp_path,
            actor=admin,
        )
    assert job.schema == "self_instruct"
    job = imports.run(session=db_session, job_id=job.id, actor=admin, options=ImportOptions())
    assert (job.state, job.created_items) == ("done", 175)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    stored = {
        i.instruction: i for i in db_session.query(Item).filter(Item.project_id == project.id)
    }
    for row in rows:
        item = stored[row["instruction"]]
        assert item.kind == "task"
        assert item.input == row["instances"][0]["input"]
        assert item.output == row["instances"][0]["output"]
    again = imports.store_upload(
        session=db_session,
        project=project,
        filename=path.name,
        stream=path.open("rb"),
        folder=tmp_path,
        actor=admin,
    )
    again = imports.run(session=db_session, job_id=again.id, actor=admin, options=ImportOptions())
    assert (again.created_items, again.skipped_duplicates) == (0, 175)


def test_freezing_binds_no_parameter_per_item(db_session):
    """PostgreSQL allows 65,535 parameters a statement: selecting the pinned revisions must
    not list the item ids (a 100k-item version failed that way)."""
    from sqlalchemy import event

    project, admin, created = approved_project(db_session)
    biggest = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not executemany and isinstance(parameters, (list, tuple, dict)):
            biggest.append(len(parameters))

    engine = db_session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        freeze(db_session, project, admin)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert max(biggest) < len(created)
