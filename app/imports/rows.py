"""The rows an import's write pass reads, converted: from the file as it is read, or as the
all-or-nothing check pass left them.

Converting a row (parsing, the schema's converter, validation) costs several times what writing
it does, and an all-or-nothing import reads every row twice: once to check the whole file, then
to write it. The check pass keeps each converted row in :class:`CheckedRows`, a temporary file
next to the upload (bounded memory; removed when closed, or by the system when the process
dies), and the write pass reads them back: one orjson parse a row instead of a conversion.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from app.core.json_spelling import spelt_alike
from app.imports import reader
from app.imports.reader import ImportOptions, RowResult
from app.items.lengths import ContentLimits
from app.models import ImportJob

BUFFER = 1 << 20  # bytes


class FileRows:
    """The file's rows, converted as they are read (a "valid rows" import, or one resumed
    after ``skip`` rows, which are passed over unconverted), numbered from 1."""

    def __init__(self, job: ImportJob, options: ImportOptions, schema: str, skip: int) -> None:
        self.job, self.options, self.schema, self.skip = job, options, schema, skip
        self.limits = ContentLimits.of()
        self.file = Path(job.path).open("rb")  # noqa: SIM115 - open while the rows are read

    def __iter__(self) -> Iterator[tuple[int, RowResult]]:
        records = reader.iter_records(self.file, self.job.container)
        for number, record in enumerate(records, start=1):
            if number > self.skip:
                yield number, reader.convert_row(record, self.options, self.schema, self.limits)

    def total(self, done: int) -> int:
        """The file's row count, estimated from the share of its bytes read so far."""
        return estimated_rows(done, self.file.tell(), self.job.size)

    def close(self) -> None:
        self.file.close()


class CheckedRows:
    """Converted rows kept by the check pass: :meth:`add` them, then iterate (numbered from 1).

    A row goes through JSON unchanged, as converted content and meta hold only JSON values;
    orjson writes all of them but NaN and infinities (as null, silently), and refuses integers
    past 64 bits and lone surrogates. A row that does not read back equal is written with the
    standard library instead, which keeps those exactly; only a row holding more than strings,
    integers, booleans and nulls (most hold nothing else: ``spelt_alike``) is read back to
    compare.
    """

    def __init__(self, folder: Path) -> None:
        # Open until closed: the write pass reads it back after the check pass. A large buffer:
        # a row is a few hundred bytes, and a write call for each would cost a tenth of the pass.
        self.file = tempfile.TemporaryFile(  # noqa: SIM115
            dir=folder, prefix="checked-", buffering=BUFFER
        )
        self.count = 0

    def add(self, draft: dict[str, Any]) -> None:
        pair = [draft["content"], draft["meta"]]
        try:
            line = orjson.dumps(pair, option=orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:
            line = None
        if line is None or (not spelt_alike(pair) and orjson.loads(line) != pair):
            line = json.dumps(pair).encode() + b"\n"  # ASCII: escapes keep lone surrogates
        self.file.write(line)
        self.count += 1

    def __iter__(self) -> Iterator[tuple[int, RowResult]]:
        self.file.flush()
        self.file.seek(0)
        for number, line in enumerate(self.file, start=1):
            try:
                content, meta = orjson.loads(line)
            except orjson.JSONDecodeError:
                content, meta = json.loads(line)
            yield number, RowResult(number, {"content": content, "meta": meta}, [])

    def total(self, done: int) -> int:
        """The row count, known exactly: the check pass counted the rows."""
        return self.count

    def close(self) -> None:
        self.file.close()


def estimated_rows(done: int, position: int, size: int) -> int:
    """The file's row count, estimated from the share of its bytes read so far."""
    return max(done, round(done * size / position)) if position else done
