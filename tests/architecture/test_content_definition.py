"""Item content is defined once (``app.core.kinds``): every other place that lists its fields
takes them from there, and the hashes of existing content never move."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import Field

from app.core import manifest
from app.core.formats import metadata
from app.core.kinds import (
    ALWAYS_HASHED,
    CONTENT_FIELDS,
    MANIFEST_FIELDS,
    ItemContent,
    canonical_json,
    content_hash,
    dump_hash,
    hashed_fields,
    later_defaults,
)
from app.datasets import export
from app.imports import writer as import_writer
from app.items import service as items
from app.items.schemas import ItemDraft, ItemOut
from app.models import Item
from app.paths import ROOT
from app.revisions import service as revisions

CONTENT = set(CONTENT_FIELDS)


class TestEveryCopyFollowsItemContent:
    def test_the_list_is_the_models_fields(self):
        assert tuple(ItemContent.model_fields) == CONTENT_FIELDS

    def test_the_item_table_has_a_column_for_each(self):
        assert set(Item.__table__.columns.keys()) >= CONTENT

    def test_drafts_and_the_api_carry_each(self):
        assert set(ItemDraft.model_fields) >= CONTENT
        assert set(ItemOut.model_fields) >= CONTENT

    def test_a_revision_snapshot_keeps_each(self):
        item = Item(kind="task", instruction="Say hi.", demos=[], constraints=[], rules=[])
        assert set(items.snapshot(item)) >= CONTENT

    def test_the_import_writes_each(self):
        assert set(import_writer.ITEM_COLUMNS) >= CONTENT
        assert set(import_writer.SNAPSHOT) >= CONTENT

    def test_the_history_diffs_each_but_the_kind(self):
        assert set(revisions.DIFF_FIELDS) >= CONTENT - {"kind"}

    def test_exports_carry_each(self):
        # The output travels as the row's response (a pair's rejected response as the row's
        # own too); everything else in the metadata.
        assert set(metadata.METADATA_KEYS) >= CONTENT - {"output", "rejected"}
        view = export._plain_content({"kind": "task", "instruction": "Say hi.", "output": "Hi."})
        assert view is not None and set(view.model_dump()) == CONTENT

    def test_the_manifest_is_a_declared_subset(self):
        assert set(MANIFEST_FIELDS) < CONTENT
        assert "language" not in MANIFEST_FIELDS  # detected, not written: no new manifest hash

    def test_from_row_reads_a_row_and_a_snapshot_alike(self):
        item = Item(kind="task", instruction="Say hi.", input="", output="Hi.", demos=[],
                    constraints=[], rules=[], state_constraints=True, language="en", system="",
                    turns=[], rejected="")  # fmt: skip
        from_row = ItemContent.from_row(item)
        assert from_row == ItemContent.from_row(items.snapshot(item))
        assert from_row.model_dump() == ItemContent(kind="task", instruction="Say hi.",
                                                    output="Hi.").model_dump()  # fmt: skip


class TestLaterFields:
    """A field added later enters the canonical JSON only when it differs from its default."""

    class Later(ItemContent):
        tools: list[str] = Field(default_factory=list)

    def test_later_fields_and_their_defaults(self):
        later = {"system": "", "turns": [], "rejected": ""}
        assert later_defaults(ItemContent) == later
        assert later_defaults(self.Later) == later | {"tools": []}

    def test_at_its_default_a_later_field_leaves_the_hash_alone(self):
        plain = ItemContent(kind="task", instruction="Say hi.", output="Hi.")
        later = self.Later(kind="task", instruction="Say hi.", output="Hi.")
        defaults = later_defaults(self.Later)
        first_schema = {name: plain.model_dump(mode="json")[name] for name in ALWAYS_HASHED}
        assert hashed_fields(later.model_dump(mode="json"), defaults) == first_schema
        assert hashed_fields(plain.model_dump(mode="json")) == first_schema
        changed = self.Later(kind="task", instruction="Say hi.", output="Hi.", tools=["search"])
        assert hashed_fields(changed.model_dump(mode="json"), defaults)["tools"] == ["search"]

    def test_the_first_schema_is_fixed_and_still_whole(self):
        # Extending ALWAYS_HASHED would put a later field's default into every hash.
        assert ALWAYS_HASHED == (
            "kind", "instruction", "input", "output", "demos", "constraints", "rules",
            "state_constraints", "language",
        )  # fmt: skip
        assert set(ALWAYS_HASHED) <= CONTENT  # and no field of it may be dropped


def _demo_items() -> list[dict]:
    rows = []
    for name in ("items_en.json", "items_zh.json"):
        rows += json.loads((ROOT / "app" / "demo" / name).read_text())
    return rows


def _demo_content(row: dict) -> ItemContent:
    return ItemContent.from_row({k: v for k, v in row.items() if k in CONTENT})


def _first_demo_items() -> list[dict]:
    """The demo items of the first kinds, which the pinned hashes were computed from
    (conversations, and the prompts awaiting a model's draft, joined the demo later)."""
    return [
        row
        for row in _demo_items()
        if row["kind"] in ("task", "constraint", "example")
        and "awaiting-answer" not in row.get("tags", [])
    ]


class TestHashesDoNotMove:
    """Hashes of the demo data, computed before content was defined in one place."""

    PINNED = {
        "en-task-late-order": "f82a6bab6ecc366bb329244cfabb8ae01a67ad5ccffa26789e8799cc979c8b6b",
        "zh-ex-internet-slang": "999c8cba4fe5c37f8abdcacabd7da64e269397abfb16e6629580ddda0f1316d4",
        "en-con-bakery-slogan": "6efa6c5f621e515c5bbaffa24a5df02ca643ceddbd284608700dcd26d90002e2",
        "en-ex-review-sentiment": (
            "e0d75ec85d0b88c1190c727ed1015ad43fcdedf1a7d704541dc785040e7f047f"
        ),
    }
    ALL = "a71483b6dc5c4a19477f827f17c451e8d63a0358b7b4c19b2307627e36dadda0"
    MANIFEST = "07123a51c1bc00abba46841880fbaad921491628d7905c40c9daf4eceff7b5e9"

    @pytest.mark.parametrize("key", sorted(PINNED))
    def test_pinned_items(self, key):
        row = next(r for r in _demo_items() if r["key"] == key)
        content = _demo_content(row)
        assert content_hash(content) == self.PINNED[key]
        assert dump_hash(content.model_dump(mode="json")) == self.PINNED[key]  # the import's path

    def test_every_demo_item(self):
        hashes = sorted(content_hash(_demo_content(row)) for row in _first_demo_items())
        assert len(hashes) == 54
        assert hashlib.sha256("\n".join(hashes).encode()).hexdigest() == self.ALL

    def test_a_dataset_manifest(self):
        contents = {row["key"]: _demo_content(row) for row in _first_demo_items()}
        splits = manifest.assign_splits(
            [(key, c.kind, content_hash(c)) for key, c in contents.items()],
            seed=7,
            eval_fraction=0.2,
        )
        lines = (
            manifest.manifest_line(splits[key], c.model_dump(mode="json"))
            for key, c in contents.items()
        )
        assert manifest.manifest_hash(lines) == self.MANIFEST

    def test_canonical_json_is_unchanged_in_form(self):
        content = ItemContent(kind="task", instruction="说", output="好")
        assert canonical_json(content) == (
            '{"constraints":[],"demos":[],"input":"","instruction":"说","kind":"task",'
            '"language":"en","output":"好","rules":[],"state_constraints":true}'
        )
