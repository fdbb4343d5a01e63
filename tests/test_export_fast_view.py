"""The export's fast view of a snapshot: it takes only what it can vouch for and dumps as the
content model does; Parquet string columns as pyarrow builds them."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from app.core.formats import writers
from app.core.kinds import ItemContent
from app.datasets import export


@pytest.mark.parametrize(
    "snap",
    [
        {"kind": "task", "instruction": "x", "rules": ["r"]},
        {"kind": "task", "instruction": "x", "constraints": [{"id": "punctuation:no_comma"}]},
        {"kind": "constraint", "instruction": "x", "constraints": [{"id": " "}]},
        {"kind": "constraint", "instruction": "x", "constraints": [{"id": "a", "x": 1}]},
        {"kind": "constraint", "instruction": "x", "constraints": [{"id": "a", "params": None}]},
        {"kind": "constraint", "instruction": "x", "rules": [3]},
        {"kind": "example", "instruction": "x", "input": "q"},
        {
            "kind": "example",
            "instruction": "x",
            "input": " ",
            "demos": [{"input": "a", "output": "b"}],
        },
        {"kind": "example", "instruction": "x", "input": "q", "demos": [{"input": "a"}]},
        {
            "kind": "example",
            "instruction": "x",
            "input": "q",
            "demos": [{"input": "a", "output": " "}],
        },
        {"kind": "task", "instruction": "x", "state_constraints": "yes"},
        {"kind": "task", "instruction": 3},
    ],
    ids=repr,
)
def test_the_fast_path_leaves_what_it_cannot_vouch_for_to_the_model(snap):
    assert export._plain_content(snap) is None


@pytest.mark.parametrize(
    "snap",
    [
        {"kind": "task", "instruction": "x"},
        {"kind": "task", "instruction": "x", "input": " ", "domain": 1, "status": "approved"},
        {"kind": "constraint", "instruction": "x", "constraints": [{"id": "a"}], "rules": ["r"]},
        {
            "kind": "constraint",
            "instruction": "x",
            "constraints": [{"params": {"n": [1, 2.5, None, {"k": True}]}, "id": "a"}],
        },
        {
            "kind": "example",
            "instruction": "x",
            "input": "q",
            "demos": [{"output": "b", "input": "a"}],
            "language": "zh",
        },
    ],
    ids=repr,
)
def test_the_fast_view_dumps_as_the_model_does(snap):
    view = export._plain_content(snap)
    assert view is not None
    model = ItemContent.from_row(snap)
    assert json.dumps(view.model_dump()) == json.dumps(model.model_dump(mode="json"))


@pytest.mark.parametrize(
    "values",
    [["", "a", "é世🙂", "x" * 10_000], [], ["a", None, "b"]],
    ids=["strings", "empty", "with a null"],
)
def test_parquet_string_columns_equal_pyarrows_own(values):
    built = writers.string_array(values)
    assert built.equals(pa.array(values, pa.string()))
    built.validate(full=True)


def test_the_fast_view_knows_every_field_of_the_content_model():
    # The view reads ItemContent's fields by name; a field added later is dumped at its
    # default, and a snapshot that sets it takes the model's path.
    assert set(export._ContentView._fields) | set(export._LATER_DEFAULTS) == set(
        ItemContent.model_fields
    )
