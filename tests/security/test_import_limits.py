"""Import files built to exhaust the reader: JSON nested thousands of levels deep (Python's
parser and validators recurse, so such a row used to crash the whole upload or import) in
JSON Lines, a JSON array and a CSV cell; and Parquet files whose row groups, read whole, would
not fit in memory. Each must end as a clear error for the row or the file, with the rest of
the file still read where that is possible."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.imports import reader
from app.imports import service as imports
from app.imports.reader import ImportOptions
from tests.factories import make_user
from tests.review_factories import make_project

ROW = {"instruction": "Say hello.", "input": "", "output": "Hello."}


def nested(depth: int) -> object:
    """An array nested ``depth`` levels deep (built without recursion)."""
    value: object = []
    for _ in range(depth - 1):
        value = [value]
    return value


def deep_text(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def setup(db_session):
    admin = make_user(db_session, role="admin")
    return make_project(db_session, admin, name="Import limits"), admin


def _store(session, tmp_path, project, actor, name: str, payload: bytes):
    path = tmp_path / name
    path.write_bytes(payload)
    with path.open("rb") as f:
        return imports.store_upload(
            session=session,
            project=project,
            filename=name,
            stream=f,
            folder=tmp_path / "store",
            actor=actor,
        )


def _run(session, tmp_path, project, actor, name: str, payload: bytes):
    job = _store(session, tmp_path, project, actor, name, payload)
    return imports.run(
        session=session, job_id=job.id, actor=actor, options=ImportOptions(mode="valid_rows")
    )


def _reasons(job) -> dict[int, str]:
    return {problem["number"]: " ".join(problem["reasons"]) for problem in job.errors}


@pytest.mark.parametrize("depth", [65, 5_000, 100_000])
def test_a_deep_json_line_is_one_row_error(db_session, tmp_path, setup, depth):
    project, admin = setup
    deep = json.dumps(ROW)[:-1] + ', "extra": ' + deep_text(depth) + "}"
    lines = [json.dumps(ROW), deep, json.dumps(ROW | {"output": "Hi."})]
    job = _run(db_session, tmp_path, project, admin, "deep.jsonl", "\n".join(lines).encode())
    assert list(_reasons(job)) == [2]
    assert "Line 2" in _reasons(job)[2] and "nested" in _reasons(job)[2]
    assert job.created_items == 2


@pytest.mark.parametrize("container", ["jsonl", "json"])
def test_a_deep_first_record_does_not_break_the_upload(db_session, tmp_path, setup, container):
    """The upload reads the first records to recognise the format."""
    project, admin = setup
    deep = json.dumps(ROW)[:-1] + ', "extra": ' + deep_text(50_000) + "}"
    rows = [deep, json.dumps(ROW)]
    text = "\n".join(rows) if container == "jsonl" else "[" + ",".join(rows) + "]"
    job = _store(db_session, tmp_path, project, admin, f"first.{container}", text.encode())
    assert (job.container, job.schema) == (container, "alpaca")


@pytest.mark.parametrize("depth", [65, 5_000, 100_000])
def test_a_deep_array_element_is_one_row_error(db_session, tmp_path, setup, depth):
    project, admin = setup
    deep = json.dumps(ROW)[:-1] + ', "extra": ' + deep_text(depth) + "}"
    payload = "[" + ",".join([json.dumps(ROW), deep, json.dumps(ROW | {"output": "Hi."})]) + "]"
    job = _run(db_session, tmp_path, project, admin, "deep.json", payload.encode())
    assert list(_reasons(job)) == [2]
    assert "Element 2" in _reasons(job)[2] and "nested" in _reasons(job)[2]
    assert job.created_items == 2


@pytest.mark.parametrize("depth", [65, 5_000])
def test_deep_json_in_a_csv_cell_is_one_row_error(db_session, tmp_path, setup, depth):
    """CSV cells that hold JSON (the demonstrations) are parsed after reading."""
    project, admin = setup
    lines = [
        "instruction,input,output,demos",
        "Say hello.,,Hello.,",
        f'Give the antonym.,big,small,"{deep_text(depth)}"',
        "Say hi.,,Hi.,",
    ]
    job = _run(db_session, tmp_path, project, admin, "deep.csv", "\n".join(lines).encode())
    assert list(_reasons(job)) == [3]
    assert "Line 3" in _reasons(job)[3] and "nested" in _reasons(job)[3]
    assert job.created_items == 2


def test_nesting_up_to_the_limit_is_read(tmp_path):
    within = json.dumps(ROW | {"extra": nested(reader.MAX_DEPTH - 1)})
    beyond = json.dumps(ROW | {"extra": nested(reader.MAX_DEPTH)})
    stream = io.BytesIO(f"{within}\n{beyond}\n".encode())
    records = list(reader.iter_records(stream, "jsonl"))
    assert records[0].error is None and records[0].data["instruction"] == "Say hello."
    assert records[1].error and "nested more than 64" in records[1].error


@pytest.mark.parametrize("escaped", [False, True], ids=["brackets", "escaped brackets"])
def test_deep_json_text_in_a_jsonl_field_is_refused(escaped):
    """A line with few brackets skips the walk over its fields; brackets written as escapes
    (``\\u005b``) are not counted, so such a line is walked whatever its count."""
    line = json.dumps(ROW | {"demos": deep_text(reader.MAX_DEPTH)})
    if escaped:
        line = line.replace("[", "\\u005b").replace("]", "\\u005d")
    assert line.count("[") == (0 if escaped else reader.MAX_DEPTH)
    stream = io.BytesIO(f"{json.dumps(ROW)}\n{line}\n".encode())
    records = list(reader.iter_records(stream, "jsonl"))
    assert records[0].error is None
    assert records[1].error and "nested more than 64" in records[1].error


def _parquet(rows: int, row_group_size: int) -> bytes:
    table = pa.table(
        {
            "instruction": [f"Say {i}." for i in range(rows)],
            "output": [str(i) for i in range(rows)],
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=row_group_size)
    return out.getvalue()


def test_a_parquet_row_group_with_too_many_rows_is_refused(db_session, tmp_path, setup):
    project, admin = setup
    rows = reader.MAX_ROW_GROUP_ROWS + 1
    table = pa.table({"instruction": ["Say hi."] * rows, "output": ["Hi."] * rows})
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=rows)
    job = _store(db_session, tmp_path, project, admin, "big.parquet", out.getvalue())
    report = reader.validate(job, ImportOptions(schema="alpaca"))
    assert report["valid"] == 0 and report["total"] == 1
    reason = report["problems"][0]["reasons"][0]
    assert report["problems"][0]["number"] == 0
    assert "Row group 1" in reason and f"{rows:,} rows" in reason and "row_group_size" in reason


def test_a_parquet_row_group_too_large_uncompressed_is_refused(
    db_session, tmp_path, setup, monkeypatch
):
    """The byte limit is lowered here so the test need not write half a gigabyte; the check
    is the same one, on the sizes the metadata declares."""
    project, admin = setup
    payload = _parquet(2_000, 1_000)
    group_bytes = pq.ParquetFile(io.BytesIO(payload)).metadata.row_group(0).total_byte_size
    monkeypatch.setattr(reader, "MAX_ROW_GROUP_BYTES", group_bytes - 1)
    job = _store(db_session, tmp_path, project, admin, "wide.parquet", payload)
    report = reader.validate(job, ImportOptions(schema="alpaca"))
    assert report["valid"] == 0
    assert "bytes uncompressed" in report["problems"][0]["reasons"][0]


def test_a_parquet_file_too_large_uncompressed_is_refused(tmp_path, monkeypatch):
    payload = _parquet(2_000, 500)
    metadata = pq.ParquetFile(io.BytesIO(payload)).metadata
    total = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    monkeypatch.setattr(reader, "MAX_PARQUET_BYTES", total - 1)
    records = list(reader.iter_records(io.BytesIO(payload), "parquet"))
    assert len(records) == 1 and records[0].number == 0
    assert "over the" in records[0].error


def test_parquet_in_small_row_groups_imports(db_session, tmp_path, setup):
    project, admin = setup
    job = _run(db_session, tmp_path, project, admin, "ok.parquet", _parquet(30, 10))
    assert job.errors in (None, []) and job.created_items == 30
