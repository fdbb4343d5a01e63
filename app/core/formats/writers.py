"""Streaming exports: Alpaca JSON and JSONL, OpenAI chat JSONL, ShareGPT JSON and Parquet.

These are the supervised formats: they hold every kind of item but preference pairs, which
``pair_writers`` exports (``app.datasets.export`` leaves pairs out of these and counts them).

Every row carries the rendered messages (``app.core.prompts``) in the format's own fields, and a
``metadata`` object from which our importer restores the item exactly:

- OpenAI chat: ``messages``, the system message first when there is one.
- ShareGPT: ``conversations`` spoken by ``human`` and ``gpt``; the system prompt in a top-level
  ``system`` field, where LLaMA-Factory reads it.
- Alpaca: the final user turn is the ``instruction`` (``input`` is empty) and the final reply the
  ``output``; ``system`` when set; a conversation's earlier exchanges in ``history`` as
  ``[[user, assistant], ...]`` (LLaMA-Factory's columns). A task's row has no ``history``, so
  training on the file sees exactly the prompt the review screen showed.
- Parquet: ``prompt`` and ``response`` (the final user turn and reply), ``messages`` (every
  message, as OpenAI chat) and ``metadata`` as a JSON string.

Writers take an iterator of rows and write as they go: JSON arrays emit ``[``, the rows joined
by ``,\\n`` and ``]``; Parquet writes record batches of a fixed schema. Memory does not grow
with the number of rows.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator, Mapping
from itertools import accumulate, islice
from typing import Any, BinaryIO

from app.core.kinds import ItemContent, ItemKind
from app.core.prompts import render_messages

from .metadata import build_metadata

FORMATS = ("alpaca_json", "alpaca_jsonl", "openai_jsonl", "sharegpt_json", "parquet")
_EXTENSIONS = {
    "alpaca_json": ".json",
    "alpaca_jsonl": ".jsonl",
    "openai_jsonl": ".jsonl",
    "sharegpt_json": ".json",
    "parquet": ".parquet",
}
_MEDIA_TYPES = {".json": "application/json", ".jsonl": "application/jsonl",
                ".parquet": "application/vnd.apache.parquet"}  # fmt: skip
PARQUET_BATCH_ROWS = 1000


def extension(fmt: str) -> str:
    """The file extension, with its dot: ``.json``, ``.jsonl`` or ``.parquet``."""
    return _EXTENSIONS[_checked(fmt)]


def media_type(fmt: str) -> str:
    return _MEDIA_TYPES[extension(fmt)]


def export_row(content: ItemContent, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The format-independent row: ``prompt`` (the final user turn), ``response`` (the final
    reply) and ``metadata``; ``system`` when the item has a system prompt, and for a
    conversation ``history``: its earlier exchanges as ``[user, assistant]`` pairs.

    ``meta`` holds the item's ``item_id``, ``revision``, ``domain``, ``tags`` and ``difficulty``.
    """
    messages = render_messages(content)
    row = {
        "prompt": messages[-2]["content"],
        "response": messages[-1]["content"],
        "metadata": build_metadata(content, meta),
    }
    if len(messages) == 2 and content.kind is not ItemKind.conversation:
        return row  # most rows: a user turn and its reply
    if messages[0]["role"] == "system":
        row["system"] = messages[0]["content"]
    if content.kind is ItemKind.conversation:
        earlier = [message["content"] for message in messages[-len(content.turns) : -2]]
        row["history"] = [list(pair) for pair in zip(earlier[::2], earlier[1::2], strict=True)]
    return row


def chat_messages(row: Mapping[str, Any]) -> list[dict[str, str]]:
    """An export row's messages as OpenAI chat writes them: system, user, assistant..."""
    messages = [{"role": "system", "content": row["system"]}] if "system" in row else []
    for user, assistant in row.get("history", ()):
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    messages += [
        {"role": "user", "content": row["prompt"]},
        {"role": "assistant", "content": row["response"]},
    ]
    return messages


def format_row(fmt: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """An export row in ``fmt``'s own fields (Parquet stores metadata as a JSON string)."""
    prompt, response, metadata = row["prompt"], row["response"], row["metadata"]
    if fmt in ("alpaca_json", "alpaca_jsonl"):
        alpaca = {"instruction": prompt, "input": "", "output": response}
        if "system" in row:
            alpaca["system"] = row["system"]
        if "history" in row:
            alpaca["history"] = row["history"]
        alpaca["metadata"] = metadata
        return alpaca
    if fmt == "openai_jsonl":
        return {"messages": chat_messages(row), "metadata": metadata}
    if fmt == "sharegpt_json":
        turns = [
            {"from": "human" if message["role"] == "user" else "gpt", "value": message["content"]}
            for message in chat_messages(row)
            if message["role"] != "system"
        ]
        sharegpt = {"conversations": turns}
        if "system" in row:
            sharegpt["system"] = row["system"]
        sharegpt["metadata"] = metadata
        return sharegpt
    _checked(fmt)
    messages = chat_messages(row)
    return {"prompt": prompt, "response": response, "messages": messages,
            "metadata": json_text(metadata)}  # fmt: skip


def write(fmt: str, rows: Iterable[Mapping[str, Any]], out: BinaryIO) -> int:
    """Write export rows (from :func:`export_row`) to ``out`` as ``fmt``; returns the row count."""
    _checked(fmt)
    formatted = (format_row(fmt, row) for row in rows)
    if fmt == "parquet":
        return _write_parquet(formatted, out)
    if fmt.endswith("_jsonl"):
        return write_jsonl(formatted, out)
    return _write_json_array(formatted, out)


def _checked(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; expected one of {FORMATS}.")
    return fmt


def json_text(value: Any) -> str:
    # Non-ASCII stays readable (Chinese items) and takes fewer bytes than \u escapes.
    return _encode(value)


# json.dumps(value, ensure_ascii=False) builds this encoder on every call; one does for all.
_encode = json.JSONEncoder(ensure_ascii=False).encode
WRITE_BATCH_ROWS = 100  # rows encoded and written together (the bytes do not depend on it)


def write_jsonl(rows: Iterator[dict[str, Any]], out: BinaryIO) -> int:
    count = 0
    while batch := list(islice(rows, WRITE_BATCH_ROWS)):
        out.write(("\n".join(map(_encode, batch)) + "\n").encode("utf-8"))
        count += len(batch)
    return count


def _write_json_array(rows: Iterator[dict[str, Any]], out: BinaryIO) -> int:
    count = 0
    out.write(b"[")
    while batch := list(islice(rows, WRITE_BATCH_ROWS)):
        text = ",\n".join(map(_encode, batch))
        out.write(((",\n" if count else "\n") + text).encode("utf-8"))
        count += len(batch)
    out.write(b"\n]\n" if count else b"]\n")
    return count


def _write_parquet(rows: Iterator[dict[str, Any]], out: BinaryIO) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    count = 0
    # An empty export still gets a valid file with the schema, written on close.
    with pq.ParquetWriter(out, schema) as writer:
        while batch := list(islice(rows, PARQUET_BATCH_ROWS)):
            columns = [
                messages_array([row[name] for row in batch])
                if name == "messages"
                else string_array([row[name] for row in batch])
                for name in schema.names
            ]
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
            count += len(batch)
    return count


def parquet_schema():
    """The Parquet export's columns; ``messages`` is a list of {role, content} as Hugging Face
    chat datasets hold it."""
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema(
        [
            ("prompt", pa.string()),
            ("response", pa.string()),
            ("messages", pa.list_(message)),
            ("metadata", pa.string()),
        ]
    )


def messages_array(values: list[list[dict[str, str]]]):
    """A pyarrow list-of-structs array of each row's messages, from the strings' buffers."""
    import pyarrow as pa

    flat = [message for messages in values for message in messages]
    fields = [string_array([message[name] for message in flat]) for name in ("role", "content")]
    structs = pa.StructArray.from_arrays(fields, names=["role", "content"])
    offsets = array(_INT32, accumulate(map(len, values), initial=0))
    offsets_array = pa.Array.from_buffers(pa.int32(), len(offsets), [None, pa.py_buffer(offsets)])
    return pa.ListArray.from_arrays(offsets_array, structs, type=parquet_schema().field(2).type)


_INT32 = next(code for code in "ilh" if array(code).itemsize == 4)


def string_array(values: list[Any]):
    """A pyarrow string array of ``values``, from its two buffers when they are all strings.

    The same array as ``pa.array(values, pa.string())``, built without it: its first call in a
    process imports pandas (half a second, and some 50 MB that a web process then keeps).
    """
    import pyarrow as pa

    if not all(type(value) is str for value in values):
        return pa.array(values, pa.string())
    data = [value.encode("utf-8") for value in values]
    offsets = array(_INT32, accumulate(map(len, data), initial=0))
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    return pa.Array.from_buffers(pa.string(), len(data), buffers)
