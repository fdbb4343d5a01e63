"""Reading import files record by record: JSON Lines, JSON arrays, CSV and Parquet.

Every reader streams: one line, element or row batch is in memory at a time, so a file of any
length imports in constant memory. A bad record becomes a :class:`Record` with an error and
reading goes on, except inside a JSON array, where the parser cannot resynchronise after bad JSON.

Record numbers (lines, elements or rows) are described in :func:`iter_records`.
Error messages are sentences that name the place themselves ("Line 57: ..."), ready to show.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, BinaryIO

import orjson

CONTAINERS = ("jsonl", "json", "csv", "parquet")
_REFUSED = object()  # orjson could not read the line
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
# Every byte but the ASCII digits: a line holding fewer than 19 digits in all cannot hold a run
# of 19, and deleting the rest to count them costs a tenth of searching for the run.
_NOT_DIGITS = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)
MAX_FIELD_BYTES = 10 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Record:
    """One line, element or row: its number and data, or the reason it could not be read."""

    number: int
    data: dict[str, Any] | None
    error: str | None = None
    # How deep the data can nest at most, JSON text in its strings included: the brackets in its
    # source line. None when not counted (an escape such as \u005b could hide brackets).
    nesting_bound: int | None = field(default=None, compare=False)


def detect_container(filename: str, first_bytes: bytes) -> str:
    """``jsonl``, ``json``, ``csv`` or ``parquet`` from the name and the first bytes.

    Parquet's magic number wins; for JSON-like names the content decides between an array and
    one object per line (many ".json" datasets are really JSON Lines); an unknown name with
    text that does not start like JSON is taken as CSV.
    """
    if first_bytes.startswith(b"PAR1"):
        return "parquet"
    suffix = PurePath(filename).suffix.lower()
    by_suffix = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
                 ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip
    if by_suffix.get(suffix, "json") in ("json", "jsonl"):
        head = first_bytes.removeprefix(_BOM).lstrip()
        if head.startswith(b"["):
            return "json"
        if head.startswith(b"{"):
            return "jsonl"
    return by_suffix.get(suffix, "csv")


def iter_records(
    stream: BinaryIO, container: str, *, max_field_bytes: int = MAX_FIELD_BYTES
) -> Iterator[Record]:
    """The records of ``stream`` (opened in binary mode) read as ``container``.

    ``Record.number`` is the 1-based line for JSONL and CSV (in CSV the header is line 1, so
    the first data row is line 2), the 1-based element for a JSON array, the 1-based row for
    Parquet, and 0 for a problem with the whole file.

    A string value over ``max_field_bytes`` (UTF-8) makes its record an error. A JSONL line or
    CSV row over four times that is skipped without being held in memory. A file without
    records gives one error numbered 0.
    """
    readers = {"jsonl": _jsonl, "json": _json_array, "csv": _csv, "parquet": _parquet}
    if container not in readers:
        raise ValueError(f"Unknown container {container!r}; expected one of {CONTAINERS}.")
    empty = True
    for record in readers[container](stream, max_field_bytes):
        empty = False
        yield record
    if empty:
        yield Record(0, None, "The file is empty: it holds no records.")


def _checked(
    number: int,
    place: str,
    data: Any,
    max_field_bytes: int,
    source_bytes: int | None = None,
    nesting_bound: int | None = None,
) -> Record:
    """``data`` as a record if it is an object without oversized fields.

    ``source_bytes`` is the size of the text it was parsed from: no decoded string is larger in
    UTF-8 than its JSON or CSV source, so a small enough source skips the walk over the fields.
    """
    if not isinstance(data, dict):
        return Record(number, None, f"{place}: expected an object, found {_json_kind(data)}.")
    if source_bytes is not None and source_bytes <= max_field_bytes:
        return Record(number, data, nesting_bound=nesting_bound)
    oversized = _oversized_field(data, max_field_bytes)
    if oversized is not None:
        name, size = oversized
        return Record(
            number,
            None,
            f"{place}: field {name!r} has {size:,} bytes, over the {max_field_bytes:,}-byte limit.",
        )
    return Record(number, data)


def _long_digits(line: bytes) -> bool:
    """Whether ``line`` holds a run of 19 digits."""
    return len(line.translate(None, _NOT_DIGITS)) >= 19 and _LONG_DIGITS.search(line) is not None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "a string"


def _oversized_field(value: Any, limit: int, path: str = "") -> tuple[str, int] | None:
    if isinstance(value, str):
        # Cheap bounds first: a character is 1 to 4 bytes in UTF-8.
        if len(value) * 4 <= limit:
            return None
        size = len(value.encode("utf-8", "surrogatepass"))
        return (path or "value", size) if size > limit else None
    if isinstance(value, dict):
        items = ((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    for name, item in items:
        found = _oversized_field(item, limit, name)
        if found is not None:
            return found
    return None


def _lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Physical lines split on b"\\n" only, with ``None`` for a line over the cap (skipped).

    Splitting bytes rather than text matters: U+2028 and other separators that str.splitlines
    honours may appear raw inside JSON strings.
    """
    number = 0
    while True:
        line = stream.readline(max_line_bytes + 1)
        if not line:
            return
        number += 1
        if number == 1:
            line = line.removeprefix(_BOM)
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # drain the rest of the long line
                line = stream.readline(1024 * 1024)
            yield number, None
        else:
            yield number, line


def _jsonl(stream: BinaryIO, max_field_bytes: int) -> Iterator[Record]:
    max_line_bytes = 4 * max_field_bytes
    for number, line in _lines(stream, max_line_bytes):
        place = f"Line {number}"
        if line is None:
            yield Record(
                number, None, f"{place}: longer than the {max_line_bytes:,}-byte limit; skipped."
            )
            continue
        if not line.strip():
            continue
        # orjson reads most lines several times faster; whatever it refuses (bad UTF-8 or
        # JSON, NaN, lone surrogates, deep nesting) goes the standard way below, which
        # accepts what it accepts and explains what it does not. So does a line with a run of
        # 19 digits: orjson reads an integer past 64 bits as a float, losing its value.
        try:
            fast = _REFUSED if _long_digits(line) else orjson.loads(line)
        except orjson.JSONDecodeError:
            fast = _REFUSED
        if fast is not _REFUSED:
            bound = None if b"\\u" in line else line.count(b"[") + line.count(b"{")
            yield _checked(number, place, fast, max_field_bytes, len(line), bound)
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Record(number, None, f"{place}: not valid UTF-8 (byte {exc.start + 1}).")
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Record(number, None, f"{place}: not valid JSON ({exc.msg}, column {exc.colno}).")
            continue
        except RecursionError:
            yield Record(number, None, f"{place}: objects and arrays nested too deeply to read.")
            continue
        yield _checked(number, place, data, max_field_bytes, len(line))


def _csv(stream: BinaryIO, max_field_bytes: int) -> Iterator[Record]:
    max_row_bytes = 4 * max_field_bytes
    # The limit is process-wide in the csv module; only ever raise it.
    csv.field_size_limit(max(csv.field_size_limit(), max_row_bytes))
    bad_lines: dict[int, str] = {}

    def decoded() -> Iterator[str]:
        for number, line in _lines(stream, max_row_bytes):
            if line is None:
                bad_lines[number] = f"line {number} is longer than the {max_row_bytes:,}-byte limit"
                yield "\n"
                continue
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_lines[number] = f"line {number} is not valid UTF-8 (byte {exc.start + 1})"
                yield line.decode("utf-8", "replace")

    reader = csv.reader(decoded())
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            bad_lines.clear()
            yield Record(start, None, f"Line {start}: not valid CSV ({exc}).")
            continue
        if not row:
            continue
        place = f"Line {start}"
        if bad_lines:
            # Decoding runs ahead of parsing only within the current row, so these are its lines.
            reasons = "; ".join(bad_lines.values())
            bad_lines.clear()
            yield Record(start, None, f"{place}: {reasons}.")
            continue
        if header is None:
            header = row
            repeated = sorted({name for name in row if row.count(name) > 1})
            if repeated:
                yield Record(start, None, f"{place}: the header repeats {repeated}.")
                return
            continue
        if len(row) != len(header):
            yield Record(
                start,
                None,
                f"{place}: {len(row)} columns, but the header has {len(header)}.",
            )
            continue
        yield _checked(start, place, dict(zip(header, row, strict=True)), max_field_bytes)


def _json_array(stream: BinaryIO, max_field_bytes: int) -> Iterator[Record]:
    import ijson

    head = stream.read(64 * 1024)
    start = head.removeprefix(_BOM).lstrip()
    if not start:
        return
    if not start.startswith(b"["):
        yield Record(0, None, "The file is not a JSON array; for one object per line use JSONL.")
        return
    number = 0
    try:
        for number, data in enumerate(
            ijson.items(_Rewound(head, stream), "item", use_float=True), 1
        ):
            yield _checked(number, f"Element {number}", data, max_field_bytes)
    except ijson.JSONError as exc:
        reason = str(exc).strip("b'\"").split("\\n")[0].split("\n")[0]
        if "UTF8" in reason:
            reason = "not valid UTF-8"
        place = f"Element {number + 1}"
        yield Record(number + 1, None, f"{place}: {reason}; the rest of the file was not read.")


class _Rewound:
    """A stream whose first bytes, already read to look at them, are served again."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._rest.read(size)
        # ijson calls read(0) to learn whether the stream gives bytes or text.
        cut = len(self._head) if size < 0 else size
        chunk, self._head = self._head[:cut], self._head[cut:]
        return chunk


def _parquet(stream: BinaryIO, max_field_bytes: int) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if stream.seekable():
        start = stream.tell()
        if stream.seek(0, 2) == start:
            return  # an empty file: reported by iter_records
        stream.seek(start)
    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        yield Record(0, None, f"The file is not readable as Parquet ({exc}).")
        return
    number = 0
    for batch in parquet.iter_batches(batch_size=1000):
        for row in batch.to_pylist():
            number += 1
            place = f"Row {number}"
            binary = [key for key, value in row.items() if isinstance(value, bytes)]
            try:
                # A binary column is text to us; anything else would fail the schema anyway.
                row.update({key: row[key].decode("utf-8") for key in binary})
            except UnicodeDecodeError:
                yield Record(number, None, f"{place}: not valid UTF-8.")
                continue
            yield _checked(number, place, row, max_field_bytes)
