"""ItemContent validation per kind, and a content hash that is stable and canonical."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import ValidationError

from app.core.kinds import (
    ConstraintRef,
    Demo,
    ItemContent,
    ItemKind,
    canonical_json,
    content_hash,
)
from app.core.status import ItemStatus


def _example(**overrides) -> ItemContent:
    fields = {
        "kind": "example",
        "instruction": "Give the plural.",
        "demos": [{"input": "cat", "output": "cats"}],
        "input": "dog",
        "output": "dogs",
    }
    return ItemContent(**(fields | overrides))


class TestEnums:
    def test_values_are_plain_strings(self):
        assert ItemKind.constraint == "constraint"
        assert ItemStatus("changes_requested") is ItemStatus.changes_requested
        assert [kind.value for kind in ItemKind] == [
            "task",
            "constraint",
            "example",
            "conversation",
            "preference",
        ]


class TestTask:
    def test_defaults(self):
        content = ItemContent(kind="task", instruction="Translate to French.")
        assert content.kind is ItemKind.task
        assert (content.input, content.output, content.language) == ("", "", "en")
        assert content.demos == [] and content.constraints == [] and content.rules == []
        assert content.state_constraints is True

    @pytest.mark.parametrize("instruction", ["", "   ", "\n\t"])
    def test_blank_instruction_is_refused(self, instruction):
        with pytest.raises(ValidationError, match=r"The instruction must not be empty\."):
            ItemContent(kind="task", instruction=instruction)

    def test_message_reads_as_a_sentence(self):
        # The UI shows errors()[i]["msg"] as is: no "Value error, " prefix.
        with pytest.raises(ValidationError) as caught:
            ItemContent(kind="task", instruction=" ")
        assert caught.value.errors()[0]["msg"] == "The instruction must not be empty."
        assert caught.value.errors()[0]["loc"] == ("instruction",)

    def test_demos_are_refused(self):
        with pytest.raises(ValidationError, match="A task item cannot have demonstrations"):
            ItemContent(kind="task", instruction="x", demos=[Demo(input="a", output="b")])

    def test_constraints_are_refused(self):
        with pytest.raises(ValidationError, match="A task item cannot have constraints"):
            ItemContent(
                kind="task", instruction="x", constraints=[{"id": "detectable_format:title"}]
            )

    def test_rules_are_refused(self):
        with pytest.raises(ValidationError, match="cannot have constraints or rules"):
            ItemContent(kind="task", instruction="x", rules=["Be polite."])

    def test_unknown_kind_and_fields_are_refused(self):
        with pytest.raises(ValidationError):
            ItemContent(kind="essay", instruction="x")
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            ItemContent(kind="task", instruction="x", ouput="typo")


class TestConstraint:
    def test_constraints_and_rules_are_kept(self):
        content = ItemContent(
            kind="constraint",
            instruction="Summarise in under 100 words.",
            constraints=[
                {
                    "id": "length_constraints:number_words",
                    "params": {"relation": "less than", "num_words": 100},
                }
            ],
            rules=["Formal tone."],
            state_constraints=False,
        )
        assert content.constraints[0] == ConstraintRef(
            id="length_constraints:number_words", params={"relation": "less than", "num_words": 100}
        )
        assert content.rules == ["Formal tone."]

    def test_params_default_to_empty(self):
        assert ConstraintRef(id="detectable_format:title").params == {}

    def test_blank_constraint_id_is_refused(self):
        with pytest.raises(ValidationError, match=r"A constraint needs an id\."):
            ItemContent(kind="constraint", instruction="x", constraints=[{"id": " "}])

    def test_demos_are_refused(self):
        with pytest.raises(ValidationError, match="A constraint item cannot have demonstrations"):
            ItemContent(kind="constraint", instruction="x", demos=[{"input": "a", "output": "b"}])


class TestExample:
    def test_valid(self):
        assert _example().demos == [Demo(input="cat", output="cats")]

    def test_needs_a_demo(self):
        with pytest.raises(ValidationError, match="needs at least one demonstration"):
            _example(demos=[])

    @pytest.mark.parametrize(
        ("demo", "message"),
        [
            ({"input": " ", "output": "cats"}, "Demonstration 2 needs an input."),
            ({"input": "cat", "output": ""}, "Demonstration 2 needs an output."),
        ],
    )
    def test_demos_need_input_and_output(self, demo, message):
        with pytest.raises(ValidationError, match=message):
            _example(demos=[{"input": "mouse", "output": "mice"}, demo])

    def test_needs_a_query(self):
        with pytest.raises(ValidationError, match="needs a query input"):
            _example(input="  ")

    def test_constraints_are_refused(self):
        with pytest.raises(ValidationError, match="An example item cannot have constraints"):
            _example(constraints=[{"id": "detectable_format:title"}])


class TestContentHash:
    def test_canonical_json_is_sorted_compact_and_keeps_non_ascii(self):
        content = ItemContent(kind="task", instruction="翻译：你好", output="Hello")
        assert canonical_json(content) == (
            '{"constraints":[],"demos":[],"input":"","instruction":"翻译：你好","kind":"task",'
            '"language":"en","output":"Hello","rules":[],"state_constraints":true}'
        )

    def test_hash_is_sha256_of_the_utf8_canonical_json(self):
        content = ItemContent(kind="task", instruction="翻译：你好", output="Hello")
        expected = hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()
        assert content_hash(content) == expected
        # Pinned so that a change in canonicalisation, which would re-hash every item, shows up.
        assert (
            expected
            == hashlib.sha256(
                '{"constraints":[],"demos":[],"input":"","instruction":"翻译：你好","kind":"task",'
                '"language":"en","output":"Hello","rules":[],"state_constraints":true}'.encode()
            ).hexdigest()
        )

    def test_param_order_does_not_matter(self):
        first = ItemContent(
            kind="constraint",
            instruction="x",
            constraints=[{"id": "c", "params": {"a": 1, "b": 2}}],
        )
        second = ItemContent(
            kind="constraint",
            instruction="x",
            constraints=[{"id": "c", "params": {"b": 2, "a": 1}}],
        )
        assert content_hash(first) == content_hash(second)

    def test_any_field_changes_the_hash(self):
        base = _example()
        changed = [
            _example(output="dogs!"),
            _example(language="zh"),
            _example(demos=[{"input": "cat", "output": "cats "}]),
        ]
        assert len({content_hash(base), *map(content_hash, changed)}) == 4

    def test_accepts_a_mapping(self):
        as_dict = _example().model_dump()
        assert content_hash(as_dict) == content_hash(_example())
