"""Imports: formats, the validation report, all-or-nothing against valid rows,
idempotency, cleaning, and the upload → check → run → progress flow over HTTP."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.models import Item
from tests.factories import make_user
from tests.helpers import login
from tests.import_factories import alpaca_lines, import_file
from tests.review_factories import make_project


def _count(session, project) -> int:
    return session.scalar(
        select(func.count()).select_from(Item).where(Item.project_id == project.id)
    )


@pytest.fixture
def setup(db_session):
    admin = make_user(db_session, role="admin")
    return make_project(db_session, admin, name="Imports"), admin


class TestReport:
    def test_bad_json_line_57_all_or_nothing_changes_nothing(self, db_session, tmp_path, setup):
        project, admin = setup
        lines = alpaca_lines(60)
        lines[56] = '{"instruction": "broken",'
        job = import_file(
            db_session, tmp_path, project, admin, "a.jsonl", "\n".join(lines).encode()
        )
        assert job.state == "failed"
        assert [p["number"] for p in job.errors] == [57]
        assert "57" in job.errors[0]["reasons"][0]
        assert _count(db_session, project) == 0

    def test_a_late_problem_writes_nothing(self, db_session, tmp_path, setup):
        """All-or-nothing checks every row before writing one: a problem on line 4,900, after
        two batches' worth of good rows, leaves nothing behind, revisions included."""
        from app.imports.writer import BATCH
        from app.models import ItemRevision, SearchTerm

        project, admin = setup
        lines = alpaca_lines(2 * BATCH + 1000)
        lines[2 * BATCH + 899] = '{"instruction": 3}'
        job = import_file(
            db_session, tmp_path, project, admin, "late.jsonl", "\n".join(lines).encode()
        )
        assert job.state == "failed"
        assert [p["number"] for p in job.errors] == [2 * BATCH + 900]
        assert job.rows_total == 2 * BATCH + 1000
        assert _count(db_session, project) == 0
        for model in (ItemRevision, SearchTerm):
            assert db_session.scalar(select(func.count()).select_from(model)) == 0

    def test_many_batches_write_items_then_the_pass_indexes_them(self, db_session, tmp_path, setup):
        from app.imports import indexer
        from app.imports.writer import BATCH
        from app.items.repository import ItemFilter, page

        project, admin = setup
        count = 2 * BATCH + 7
        job = import_file(
            db_session,
            tmp_path,
            project,
            admin,
            "many.jsonl",
            "\n".join(alpaca_lines(count)).encode(),
        )
        assert (job.state, job.created_items) == ("done", count)
        assert _count(db_session, project) == count
        search = ItemFilter(project_id=project.id, q="number 4007")
        assert page(db_session, search)[0] == []  # not indexed yet: the pass follows
        assert indexer.index_imported(session=db_session, job=job, batch_size=BATCH) == count
        found, _cursor = page(db_session, search)
        assert [item.instruction for item in found] == ["Say the number 4007."]
        assert {i.version for i in found} == {1} and found[0].submitted_at is None

    def test_the_near_duplicate_pass_keys_every_item(self, db_session, tmp_path, setup):
        """Over several fetch batches: every imported item gets exactly the band keys the editor
        would compute for it, so near-duplicates find each other."""
        from app.imports import indexer
        from app.items import indexing
        from app.models import NearDupKey

        project, admin = setup
        count = 2 * 1000 + 3
        lines = [
            json.dumps(
                {
                    "instruction": f"Describe item {i}: a {word} for the {i % 7} kitchen shelf.",
                    "input": "",
                    "output": f"It is item {i}.",
                }
            )
            for i, word in zip(range(count), ["bowl", "cup", "plate"] * count, strict=False)
        ]
        job = import_file(
            db_session, tmp_path, project, admin, "nd.jsonl", "\n".join(lines).encode()
        )
        assert indexer.index_imported(session=db_session, job=job, batch_size=1000) == count
        stored: dict[int, dict[int, int]] = {}
        for item_id, band, key in db_session.execute(
            select(NearDupKey.item_id, NearDupKey.band, NearDupKey.key)
        ):
            stored.setdefault(item_id, {})[band] = key
        assert len(stored) == count
        for item in db_session.scalars(select(Item).where(Item.project_id == project.id)):
            expected = indexing.band_keys_for(indexing.item_text(item))
            assert [stored[item.id][band] for band in range(len(expected))] == expected

    def test_valid_rows_mode_imports_exactly_the_rest(self, db_session, tmp_path, setup):
        project, admin = setup
        lines = alpaca_lines(10)
        lines[2] = json.dumps({"instruction": "No output field"})
        lines[4] = json.dumps({"instruction": 5, "input": "", "output": "x"})
        job = import_file(
            db_session,
            tmp_path,
            project,
            admin,
            "b.jsonl",
            "\n".join(lines).encode(),
            mode="valid_rows",
        )
        assert job.state == "done"
        assert sorted(p["number"] for p in job.errors) == [3, 5]
        assert job.created_items == 8 == _count(db_session, project)

    @pytest.mark.parametrize(
        ("name", "payload", "number"),
        [
            ("empty.jsonl", b"", 0),
            (
                "utf8.jsonl",
                b'{"instruction": "ok", "input": "", "output": "fine"}\n'
                b'{"instruction": "\xff\xfe bad", "input": "", "output": "x"}\n',
                2,
            ),
            ("ragged.csv", b"instruction,input,output\nOne,,1\nTwo,,2,extra\n", 3),
        ],
    )
    def test_malformed_files_name_the_place(
        self, db_session, tmp_path, setup, name, payload, number
    ):
        project, admin = setup
        job = import_file(db_session, tmp_path, project, admin, name, payload)
        assert job.state == "failed"
        assert number in [p["number"] for p in job.errors] or (number == 0 and job.message)
        assert _count(db_session, project) == 0

    def test_a_10_mb_field_is_refused(self, db_session, tmp_path, setup):
        project, admin = setup
        big = json.dumps(
            {"instruction": "Big", "input": "x" * (10 * 1024 * 1024 + 10), "output": "y"}
        )
        job = import_file(
            db_session,
            tmp_path,
            project,
            admin,
            "big.jsonl",
            ("\n".join([big, *alpaca_lines(2)])).encode(),
            mode="valid_rows",
        )
        assert [p["number"] for p in job.errors] == [1]
        assert job.created_items == 2


class TestSchemas:
    def test_multi_instance_self_instruct_becomes_an_example(self, db_session, tmp_path, setup):
        project, admin = setup
        row = {
            "id": "seed_x",
            "instruction": "Give the capital.",
            "instances": [
                {"input": "France", "output": "Paris"},
                {"input": "Japan", "output": "Tokyo"},
                {"input": "Kenya", "output": "Nairobi"},
            ],
        }
        job = import_file(
            db_session, tmp_path, project, admin, "si.jsonl", json.dumps(row).encode()
        )
        item = db_session.scalar(select(Item).where(Item.project_id == project.id))
        assert (job.schema, item.kind) == ("self_instruct", "example")
        assert item.demos == [
            {"input": "France", "output": "Paris"},
            {"input": "Japan", "output": "Tokyo"},
        ]
        assert (item.input, item.output) == ("Kenya", "Nairobi")

    def test_ifeval_prompts_become_constraint_drafts(self, db_session, tmp_path, setup):
        project, admin = setup
        row = {
            "key": 1001,
            "prompt": "Write a poem about tea. Do not use any commas.",
            "instruction_id_list": ["punctuation:no_comma", "length_constraints:number_words"],
            "kwargs": [{}, {"relation": "at least", "num_words": 50}],
        }
        import_file(
            db_session,
            tmp_path,
            project,
            admin,
            "ifeval.jsonl",
            json.dumps(row).encode(),
            status="submitted",
        )
        item = db_session.scalar(select(Item).where(Item.project_id == project.id))
        assert (item.kind, item.status, item.state_constraints) == ("constraint", "draft", False)
        assert [c["id"] for c in item.constraints] == [
            "punctuation:no_comma",
            "length_constraints:number_words",
        ]
        assert item.constraints[1]["params"] == {"relation": "at least", "num_words": 50}

    def test_reimport_is_idempotent_and_chinese_is_marked(self, db_session, tmp_path, setup):
        project, admin = setup
        payload = "\n".join(
            json.dumps({"instruction": t, "input": "", "output": "好"})
            for t in ("把这句话翻译成英文。", "总结下面的段落。")
        ).encode()
        first = import_file(db_session, tmp_path, project, admin, "zh.jsonl", payload)
        second = import_file(db_session, tmp_path, project, admin, "zh.jsonl", payload)
        assert (first.created_items, second.created_items, second.skipped_duplicates) == (2, 0, 2)
        assert {i.language for i in db_session.scalars(select(Item))} == {"zh"}

    def test_text_is_stored_exactly_unless_cleaning_is_chosen(self, db_session, tmp_path, setup):
        project, admin = setup
        raw = {"instruction": "  Use <b>bold</b>   here  ", "input": "", "output": "ok\u0007"}
        import_file(db_session, tmp_path, project, admin, "raw.jsonl", json.dumps(raw).encode())
        import_file(
            db_session,
            tmp_path,
            project,
            admin,
            "clean.jsonl",
            json.dumps({**raw, "instruction": raw["instruction"] + "!"}).encode(),
            cleaning=["strip_html", "control_chars", "collapse_spaces", "trim"],
        )
        stored = sorted(db_session.scalars(select(Item.instruction)), key=len)
        assert stored == ["Use bold here !", "  Use <b>bold</b>   here  "]


class TestHttpFlow:
    def test_upload_check_run_and_progress(self, client, db_session, setup, run_tasks):
        project, admin = setup
        csrf = login(client, admin.email)
        payload = "\n".join(alpaca_lines(30)).encode()
        upload = client.post(
            f"/projects/{project.id}/imports",
            data={"csrf_token": csrf},
            files={"file": ("numbers.jsonl", payload, "application/jsonl")},
        )
        assert upload.status_code == 303
        job_url = upload.headers["location"]
        page = client.get(job_url)
        assert 'id="detected-schema">alpaca<' in page.text
        job_id = int(job_url.rsplit("/", 1)[1])
        check = client.post(
            f"/imports/{job_id}/check", data={"csrf_token": csrf, "mode": "all_or_nothing"}
        )
        assert "30 rows: 30 valid, 0 with problems." in check.text
        assert 'data-row="2"' in check.text  # the preview shows the rows as stored
        assert _count(db_session, project) == 0  # checking imports nothing
        started = client.post(
            f"/imports/{job_id}/run",
            data={"csrf_token": csrf, "mode": "all_or_nothing", "status": "submitted"},
        )
        assert started.status_code == 303
        queued = client.get(f"/imports/{job_id}/progress")
        assert "<progress" in queued.text  # the bar shows while it waits and runs
        assert len(run_tasks()) == 1
        progress = client.get(f"/imports/{job_id}/progress")
        assert 'id="import-done"' in progress.text
        assert _count(db_session, project) == 30
        statuses = set(db_session.scalars(select(Item.status).where(Item.project_id == project.id)))
        assert statuses == {"submitted"}


def test_bulk_cleaning_previews_then_applies(client, db_session, setup):
    from app.items import service as items_service
    from app.items.schemas import ItemDraft

    project, admin = setup
    dirty = items_service.create_item(
        session=db_session,
        project=project,
        author=admin,
        draft=ItemDraft(kind="task", instruction="  <i>Hi</i>  ", output="ok"),
    )
    tidy = items_service.create_item(
        session=db_session,
        project=project,
        author=admin,
        draft=ItemDraft(kind="task", instruction="Fine.", output="ok"),
    )
    csrf = login(client, admin.email)
    form = {"csrf_token": csrf, "item_ids": [dirty.id, tidy.id], "rules": ["strip_html", "trim"]}
    preview = client.post(f"/projects/{project.id}/items/clean", data=form)
    assert preview.status_code == 200
    assert (
        f'data-item="{dirty.id}"' in preview.text and f'data-item="{tidy.id}"' not in preview.text
    )
    db_session.refresh(dirty)
    assert dirty.instruction == "  <i>Hi</i>  "  # the preview changes nothing
    applied = client.post(f"/projects/{project.id}/items/clean", data={**form, "confirm": "true"})
    assert applied.status_code == 303
    db_session.refresh(dirty)
    assert (dirty.instruction, dirty.version) == ("Hi", 2)


def test_import_over_the_api(client, db_session, setup, run_tasks):
    from tests.factories import make_token

    project, admin = setup
    token = make_token(db_session, scope="user", owner=admin)
    lines = alpaca_lines(5)
    lines[1] = "not json"
    response = client.post(
        f"/api/v1/projects/{project.id}/imports",
        headers={"Authorization": f"Bearer {token}"},
        data={"mode": "valid_rows"},
        files={"file": ("n.jsonl", "\n".join(lines).encode())},
    )
    assert response.status_code == 202, response.text
    queued = response.json()
    assert (queued["state"], queued["created_items"]) == ("queued", 0)  # answered at once
    assert run_tasks() == [queued["task_id"]]
    body = client.get(
        f"/api/v1/imports/{queued['id']}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert (body["state"], body["created_items"], body["schema"]) == ("done", 4, "alpaca")
    assert [e["number"] for e in body["errors"]] == [2]
