"""The export as it was first written, row by row, and the items it is checked on: the fast
export paths must match it byte for byte (``assert_same_bytes``)."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from app.core.formats import writers
from app.core.kinds import ItemContent
from app.datasets import export, versions
from app.items.schemas import ItemDraft

WORDS = {
    "id": "length_constraints:number_words",
    "params": {"relation": "less than", "num_words": 40},
}
DRAFTS = [
    ItemDraft(
        kind="task",
        instruction="Summarise the text in one line.",
        input="Cats sleep a lot; dogs don't.",
        output="Cats sleep, dogs less.",
        domain="animals",
        tags=["summary", "short"],
        difficulty=2,
    ),
    ItemDraft(kind="task", instruction="Name a prime number.", input="   ", output="7"),
    ItemDraft(
        kind="task",
        instruction='  Fix the bug:\r\n"quotes" and \\backslashes\\ \u2028 \x01 \x7f 🙂',
        input="def f(x):\n\treturn x +  1  # café e\u0301",
        output="Use `x + 1`.\n",
        language="en",
    ),
    ItemDraft(
        kind="task",
        instruction="把这句话翻译成英文。",
        input="今天天气很好。",
        output="The weather is nice today.",
        language="zh",
        domain="翻译",
        tags=["中文"],
        difficulty=4,
    ),
    ItemDraft(
        kind="constraint",
        instruction="Describe Paris in capital letters, without commas.",
        output="PARIS IS THE CAPITAL OF FRANCE",
        constraints=[{"id": "change_case:english_capital"}, WORDS],
        rules=["Be friendly."],
        language="en",
    ),
    ItemDraft(
        kind="constraint",
        instruction="用不超过四十个词描述北京。",
        output="北京是中国的首都",
        constraints=[WORDS, {"id": "punctuation:no_comma"}],
        language="zh-CN",
    ),
    ItemDraft(
        kind="constraint",
        instruction="Describe Rome without commas; the instruction says so already.",
        output="Rome is old",
        constraints=[{"id": "punctuation:no_comma"}],
        state_constraints=False,
        language="en",
    ),
    ItemDraft(
        kind="example",
        instruction="Give the antonym.",
        demos=[{"input": "hot", "output": "cold"}, {"input": "up", "output": "down"}],
        input="big",
        output="small",
        language="en",
    ),
    ItemDraft(
        kind="example",
        instruction="给出反义词。",
        demos=[{"input": "早", "output": "晚"}, {"input": "高", "output": "矮"}],
        input="大",
        output="小",
        language="zh",
    ),
]
DRAFTS += [  # enough rows to cross every batch boundary when the batches are made small
    ItemDraft(
        kind="task",
        instruction=f"Translate sentence {i} into French.",
        input=f"The weather is nice on day {i}.",
        output=f"Il fait beau le jour {i}.",
        language="en",
    )
    for i in range(6)
]
DRAFTS += [  # later fields: the model's path (system prompts, every turn of a conversation)
    ItemDraft(
        kind="task",
        system="You answer in one word.",
        instruction="Name the largest ocean.",
        output="Pacific",
        language="en",
    ),
    ItemDraft(
        kind="conversation",
        system="你是一位耐心的数学老师。",
        turns=[
            {"role": "user", "content": "三加四等于几？"},
            {"role": "assistant", "content": "等于七。"},
            {"role": "user", "content": "那再乘以二呢？"},
            {"role": "assistant", "content": "七乘以二等于十四。"},
            {"role": "user", "content": "谢谢老师！"},
            {"role": "assistant", "content": "不客气，继续加油！"},
        ],
        language="zh",
        domain="数学",
        tags=["对话"],
    ),
    ItemDraft(
        kind="conversation",
        turns=[
            {"role": "user", "content": "Suggest a name for a bakery."},
            {"role": "assistant", "content": "The Rolling Pin"},
        ],
        language="en",
    ),
    ItemDraft(
        kind="conversation",
        turns=[
            {"role": "user", "content": "Plan a day in Lisbon."},
            {"role": "assistant", "content": "Morning in Alfama, lunch by the river."},
            {"role": "user", "content": "Shorter, please: under forty words."},
            {"role": "assistant", "content": "Alfama, then the river"},
        ],
        constraints=[WORDS],
        language="en",
    ),
]


def reference_rows(session: Session, version_id: int, split: str):
    for link, revision in versions.pinned(session, version_id, split):
        snap = revision.snapshot
        meta = {
            "item_id": link.item_id,
            "revision": link.revision,
            "domain": snap.get("domain"),
            "tags": snap.get("tags") or [],
            "difficulty": snap.get("difficulty"),
            "split": split,
        }
        yield writers.export_row(ItemContent.from_row(snap), meta)


def reference_write(fmt: str, rows, path: Path) -> None:
    formatted = (writers.format_row(fmt, row) for row in rows)
    with path.open("wb") as out:
        if fmt == "parquet":
            schema = writers.parquet_schema()
            with pq.ParquetWriter(out, schema) as writer:
                while batch := list(islice(formatted, writers.PARQUET_BATCH_ROWS)):
                    columns = {name: [row[name] for row in batch] for name in schema.names}
                    writer.write_batch(pa.record_batch(columns, schema=schema))
        elif fmt.endswith("_jsonl"):
            for row in formatted:
                out.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
        else:
            out.write(b"[")
            count = 0
            for count, row in enumerate(formatted, 1):
                line = json.dumps(row, ensure_ascii=False).encode("utf-8")
                out.write((b"\n" if count == 1 else b",\n") + line)
            out.write(b"\n]\n" if count else b"]\n")


def assert_same_bytes(session: Session, version_id: int, tmp_path: Path) -> None:
    for fmt in writers.FORMATS:
        files = export.write_folder(session, version_id, fmt, tmp_path / fmt)
        for path in files[1:]:
            expected = tmp_path / f"reference-{fmt}-{path.name}"
            split = path.name.split(".")[0]
            reference_write(fmt, reference_rows(session, version_id, split), expected)
            assert path.read_bytes() == expected.read_bytes(), (fmt, path.name)
