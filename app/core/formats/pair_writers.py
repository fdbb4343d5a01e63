"""Streaming exports of preference pairs: TRL's preference format and chosen/rejected dialogues.

Every row holds the pair's prompt exactly as the model sees it (``app.core.prompts.pair_messages``:
the system prompt, the earlier turns, the user's request with its stated requirements), its
chosen and its rejected response, and the ``metadata`` object from which our importer restores
the pair exactly (``metadata.py``; the responses are the row's own):

- ``trl_chat_jsonl`` and ``trl_chat_parquet``: TRL's conversational preference format, ``prompt``
  a list of messages and ``chosen`` and ``rejected`` one assistant message each.
- ``trl_text_jsonl`` and ``trl_text_parquet``: TRL's plain-text form, three strings; ``prompt`` is
  the user's message as rendered. Plain text has no place for a system prompt or earlier turns,
  so such pairs are left out of it (:func:`holds`) and counted by the export.
- ``hh_jsonl``: the full-dialogue form of HH-RLHF and TRL's implicit prompt, ``chosen`` and
  ``rejected`` each the whole dialogue as messages, the prompt's messages then the response.

Without the metadata a file still reads back as pairs (``pairs.py``), with the same content for
a pair whose prompt is an instruction alone (with a system prompt, or earlier turns, in the
message forms): the rendered user message becomes the instruction, so a pair's input, its
demonstrations and its stated requirements come back inside the instruction, and a prompt of
one user turn as an instruction rather than a turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, BinaryIO

from app.core.kinds import ItemContent
from app.core.prompts import pair_messages

from . import writers
from .metadata import build_metadata

FORMATS = ("trl_chat_jsonl", "trl_chat_parquet", "trl_text_jsonl", "trl_text_parquet", "hh_jsonl")
TEXT_FORMATS = frozenset({"trl_text_jsonl", "trl_text_parquet"})
_COLUMNS = {"hh_jsonl": ("chosen", "rejected")}  # the others: prompt, chosen, rejected


def extension(fmt: str) -> str:
    return ".parquet" if _checked(fmt).endswith("_parquet") else ".jsonl"


def holds(fmt: str, content: ItemContent) -> bool:
    """Whether ``fmt`` can hold the pair as the model sees it: the plain-text forms only a
    prompt that is one user message, without a system prompt or earlier turns."""
    if _checked(fmt) not in TEXT_FORMATS:
        return True
    return not content.system.strip() and len(content.turns) <= 1


def export_row(content: ItemContent, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The format-independent row of a pair: ``prompt`` (its messages), ``chosen`` and
    ``rejected`` (the responses' text) and ``metadata``."""
    prompt, chosen, rejected = pair_messages(content)
    return {
        "prompt": prompt,
        "chosen": chosen["content"],
        "rejected": rejected["content"],
        "metadata": build_metadata(content, meta),
    }


def format_row(fmt: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A pair's row in ``fmt``'s own fields (Parquet stores the metadata as a JSON string)."""
    prompt, metadata = row["prompt"], row["metadata"]
    chosen = {"role": "assistant", "content": row["chosen"]}
    rejected = {"role": "assistant", "content": row["rejected"]}
    if fmt.endswith("_parquet"):
        metadata = writers.json_text(metadata)
    if fmt == "hh_jsonl":
        return {"chosen": [*prompt, chosen], "rejected": [*prompt, rejected], "metadata": metadata}
    if _checked(fmt) in TEXT_FORMATS:
        # holds() let through only a prompt of one user message.
        return {"prompt": prompt[-1]["content"], "chosen": chosen["content"],
                "rejected": rejected["content"], "metadata": metadata}  # fmt: skip
    return {"prompt": prompt, "chosen": [chosen], "rejected": [rejected], "metadata": metadata}


def write(fmt: str, rows: Iterable[Mapping[str, Any]], out: BinaryIO) -> int:
    """Write pair rows (from :func:`export_row`) to ``out`` as ``fmt``; returns the row count."""
    formatted = (format_row(fmt, row) for row in rows)
    if fmt.endswith("_parquet"):
        return _write_parquet(fmt, formatted, out)
    return writers.write_jsonl(formatted, out)


def parquet_schema(fmt: str):
    """The Parquet columns: messages as a list of {role, content}, as Hugging Face chat
    datasets hold them, or strings in the plain-text form."""
    import pyarrow as pa

    messages = writers.parquet_schema().field("messages").type
    kind = pa.string() if _checked(fmt) in TEXT_FORMATS else messages
    names = (*_COLUMNS.get(fmt, ("prompt", "chosen", "rejected")), "metadata")
    return pa.schema([(name, pa.string() if name == "metadata" else kind) for name in names])


def _write_parquet(fmt: str, rows: Iterator[dict[str, Any]], out: BinaryIO) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema(fmt)
    count = 0
    with pq.ParquetWriter(out, schema) as writer:  # an empty export still gets the schema
        while batch := list(islice(rows, writers.PARQUET_BATCH_ROWS)):
            columns = [
                writers.string_array([row[field.name] for row in batch])
                if field.type == pa.string()
                else writers.messages_array([row[field.name] for row in batch])
                for field in schema
            ]
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
            count += len(batch)
    return count


def _checked(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"Unknown preference export format {fmt!r}; expected one of {FORMATS}.")
    return fmt
