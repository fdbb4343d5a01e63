"""Exports in every format, read back by the importer: exact with metadata, prompt-level without."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.core.formats.readers import detect_container, iter_records
from app.core.formats.schemas import convert, detect_schema, suggest_mapping
from app.core.formats.writers import FORMATS, export_row, extension, format_row, write
from app.core.kinds import ItemContent
from app.core.prompts import render_messages

TASK = ItemContent(
    kind="task",
    instruction="  Fix the bug:\r\n",
    input="def f(x):\n\treturn x +  1  # café\u2028e\u0301",
    output='Use `x + 1`; "quotes" and \\backslashes\\ stay.\n',
)
CONSTRAINT = ItemContent(
    kind="constraint",
    instruction="Describe Paris in capital letters, without commas.",
    output="PARIS IS THE CAPITAL OF FRANCE.",
    constraints=[
        {"id": "change_case:english_capital", "params": {}},
        {
            "id": "length_constraints:number_words",
            "params": {"relation": "less than", "num_words": 50},
        },
    ],
    rules=["Be friendly."],
)
EXAMPLE = ItemContent(
    kind="example",
    instruction="把句子翻译成英文。",
    demos=[{"input": "你好", "output": "Hello"}, {"input": "谢谢", "output": "Thank you"}],
    input="再见",
    output="Goodbye",
    language="zh",
)
ITEMS = [
    (TASK, {"item_id": 1, "revision": 3, "domain": "code", "tags": ["python"], "difficulty": 2}),
    (CONSTRAINT, {"item_id": 2, "revision": 1, "domain": None, "tags": [], "difficulty": None}),
    (
        EXAMPLE,
        {"item_id": 3, "revision": 7, "domain": "翻译", "tags": ["zh", "a"], "difficulty": 5},
    ),
]


def _export(fmt: str, items=ITEMS) -> bytes:
    out = io.BytesIO()
    assert write(fmt, (export_row(content, meta) for content, meta in items), out) == len(items)
    return out.getvalue()


def _import(data: bytes, fmt: str, form: str = "conversation") -> tuple[str, list]:
    container = detect_container(f"export{extension(fmt)}", data[:1024])
    records = list(iter_records(io.BytesIO(data), container))
    assert [r.error for r in records] == [None] * len(records)
    rows = [r.data for r in records]
    schema = detect_schema(rows)
    mapping = suggest_mapping(rows[0]) if schema == "unknown" else None
    return schema, [convert(row, schema, mapping, form) for row in rows]


def _without_metadata(data: bytes, fmt: str) -> bytes:
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(data)).drop_columns(["metadata"])
        out = io.BytesIO()
        pq.write_table(table, out)
        return out.getvalue()
    if fmt.endswith("jsonl"):
        rows = [json.loads(line) for line in data.splitlines()]
    else:
        rows = json.loads(data)
    for row in rows:
        del row["metadata"]
    if fmt.endswith("jsonl"):
        return b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    return json.dumps(rows).encode()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_kind_round_trips_exactly_through_metadata(fmt):
    schema, converted = _import(_export(fmt), fmt)
    assert schema == "studio"
    for result, (content, meta) in zip(converted, ITEMS, strict=True):
        assert result.errors == []
        assert result.content == content
        assert {key: result.meta[key] for key in meta} == meta
        assert result.meta["language"] == content.language
        assert result.meta["needs_output"] is False


@pytest.mark.parametrize("fmt", FORMATS)
def test_without_metadata_tasks_keep_the_prompt_and_output(fmt):
    """In the task form the rendered user turn becomes the instruction (with the input inside
    it), input is empty."""
    data = _without_metadata(_export(fmt, ITEMS[:1]), fmt)
    schema, converted = _import(data, fmt, form="task")
    assert schema == {"parquet": "openai_chat", "openai_jsonl": "openai_chat"}.get(
        fmt, "sharegpt" if fmt.startswith("sharegpt") else "alpaca"
    )
    [result] = converted
    assert result.errors == []
    assert result.content.kind == "task"
    assert result.content.instruction == f"{TASK.instruction}\n\n{TASK.input}"
    assert result.content.input == ""
    assert result.content.output == TASK.output
    assert render_messages(result.content) == render_messages(TASK)


def test_format_fields():
    row = export_row(TASK, ITEMS[0][1])
    prompt = render_messages(TASK)[0]["content"]
    assert row["prompt"] == prompt and row["response"] == TASK.output
    assert list(row["metadata"]) == [
        "kind", "item_id", "revision", "instruction", "input", "demos", "constraints", "rules",
        "state_constraints", "domain", "tags", "language", "difficulty",
    ]  # fmt: skip
    alpaca = format_row("alpaca_json", row)
    assert (alpaca["instruction"], alpaca["input"], alpaca["output"]) == (prompt, "", TASK.output)
    assert format_row("openai_jsonl", row)["messages"][1] == {
        "role": "assistant",
        "content": TASK.output,
    }
    assert format_row("sharegpt_json", row)["conversations"][0] == {
        "from": "human",
        "value": prompt,
    }
    assert json.loads(format_row("parquet", row)["metadata"]) == row["metadata"]


def test_constraint_prompt_states_its_requirements():
    row = export_row(CONSTRAINT, {})
    assert row["prompt"].startswith(CONSTRAINT.instruction + "\n\nRequirements:\n- ")
    assert row["metadata"]["item_id"] is None and row["metadata"]["tags"] == []


def test_json_array_layout_and_empty_exports():
    data = _export("alpaca_json", ITEMS[:2])
    assert data.startswith(b"[\n{") and data.endswith(b"}\n]\n")
    assert data.count(b"},\n{") == 1
    for fmt in FORMATS:
        out = io.BytesIO()
        assert write(fmt, iter([]), out) == 0
        if fmt == "parquet":
            assert pq.read_table(io.BytesIO(out.getvalue())).num_rows == 0
        elif fmt.endswith("_json"):
            assert json.loads(out.getvalue()) == []
        else:
            assert out.getvalue() == b""


def test_parquet_metadata_as_a_struct_column_is_accepted():
    rows = [export_row(content, meta) for content, meta in ITEMS]
    # As datasets or pandas would re-save it: metadata as a struct, params unified with nulls.
    table = pa.Table.from_pylist(rows)
    assert pa.types.is_struct(table.schema.field("metadata").type)
    out = io.BytesIO()
    pq.write_table(table, out)
    schema, converted = _import(out.getvalue(), "parquet")
    assert schema == "studio"
    assert [c.errors for c in converted] == [[], [], []]
    assert [c.content for c in converted] == [content for content, _ in ITEMS]


def test_parquet_writes_batches_of_a_fixed_schema():
    items = [
        (ItemContent(kind="task", instruction=f"Task {n}", output="ok"), {}) for n in range(2500)
    ]
    table = pq.ParquetFile(io.BytesIO(_export("parquet", items)))
    assert table.metadata.num_rows == 2500
    assert table.metadata.num_row_groups == 3
    assert table.schema_arrow.names == ["prompt", "response", "messages", "metadata"]
    types = [field.type for field in table.schema_arrow]
    assert all(pa.types.is_string(types[at]) for at in (0, 1, 3))
    assert types[2] == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def test_the_parquet_export_loads_with_datasets(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    path = tmp_path / f"export{extension('parquet')}"
    path.write_bytes(_export("parquet"))
    loaded = datasets.load_dataset(
        "parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert loaded.column_names == ["prompt", "response", "messages", "metadata"]
    assert loaded[2]["messages"][-1] == {"role": "assistant", "content": "Goodbye"}
    assert loaded.num_rows == 3
    assert loaded[2]["response"] == "Goodbye"
    assert loaded[0]["prompt"] == render_messages(TASK)[0]["content"]
    assert json.loads(loaded[1]["metadata"])["constraints"][1]["params"]["num_words"] == 50


def test_extensions_and_unknown_format():
    assert [extension(fmt) for fmt in FORMATS] == [".json", ".jsonl", ".jsonl", ".json", ".parquet"]
    with pytest.raises(ValueError, match="Unknown export format"):
        write("xml", [], io.BytesIO())
