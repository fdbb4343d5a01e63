"""Reading an uploaded import: what format it is, each row as it will be stored, and the
report (counts, problems numbered by line or row, a preview).

A file is stored as uploaded and read as a stream every time (never whole in memory).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate, islice
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError

from app.core.cjk import has_cjk
from app.core.formats import cleaning, readers, schemas
from app.core.formats.fields import validation_messages
from app.core.kinds import ItemContent, dump_hash
from app.errors import InvalidInput
from app.i18n import N_
from app.imports.matches import Existing
from app.items.lengths import ContentLimits, overlong
from app.models import ImportJob

SAMPLE = 50
MAX_REPORTED = 500
MODES = ("all_or_nothing", "valid_rows")
Progress = Callable[[str, int, int], None]

# Objects and arrays inside one another in one record (real items use three or four levels).
# Deeper data would reach Python's recursion limit in the JSON parser and the validators.
MAX_DEPTH = 64
# Parquet is decompressed a row group at a time: a group this large could not be read in
# bounded memory. The byte limits are the uncompressed sizes the file's metadata declares; the
# row limit is pyarrow's (and so pandas') default group size, so files written with the
# defaults are read.
MAX_ROW_GROUP_ROWS = 1024 * 1024
MAX_ROW_GROUP_BYTES = 512 * 1024 * 1024
MAX_PARQUET_BYTES = 8 * 1024 * 1024 * 1024  # the whole file, decompressed
_PLACES = {"jsonl": "Line", "csv": "Line", "json": "Element", "parquet": "Row"}


@dataclass
class ImportOptions:
    schema: str | None = None  # None: as detected
    mapping: dict[str, str] = field(default_factory=dict)
    mode: str = "all_or_nothing"
    status: str = "draft"
    cleaning: list[str] = field(default_factory=list)
    # What a chat row of one exchange becomes: a "conversation" (lossless) or a "task".
    one_exchange: str = "conversation"
    # A conversation whose first exchange is a task imported earlier: "skip" it or "import" it.
    task_matches: str = "skip"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RowResult:
    number: int
    draft: dict[str, Any] | None
    errors: list[str]
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what was left out or left to write


def detect(path: Path, container: str) -> str:
    with path.open("rb") as f:
        sample = [r.data for r in islice(iter_records(f, container), SAMPLE) if r.data]
    return schemas.detect_schema(sample) if sample else "unknown"


def records(job: ImportJob) -> Iterator[readers.Record]:
    with Path(job.path).open("rb") as f:
        yield from iter_records(f, job.container)


def iter_records(stream: BinaryIO, container: str) -> Iterator[readers.Record]:
    """The records of an import file within this module's limits: a Parquet file whose row
    groups are too large to stream gives one error (numbered 0) and nothing else; a record
    nested deeper than ``MAX_DEPTH`` becomes an error of its own, and reading goes on."""
    if container == "parquet":
        problem = parquet_problem(stream)
        if problem:
            yield readers.Record(0, None, problem)
            return
    place = _PLACES.get(container, "Record")
    if container == "json":
        # The array parser builds every level it reads (in memory that grows with the square
        # of the depth), so what lies deeper than one level past the limit never reaches it;
        # the element keeps that level, so the check below still refuses it.
        stream = _NestingGuard(stream, MAX_DEPTH + 2)  # + 1 for the array itself
    for record in readers.iter_records(stream, container):
        if record.data is not None and _too_deep(record.data, record.nesting_bound):
            problem = f"objects and arrays nested more than {MAX_DEPTH} levels deep."
            record = readers.Record(record.number, None, f"{place} {record.number}: {problem}")
        yield record


def parquet_problem(stream: BinaryIO) -> str | None:
    """Why a Parquet file cannot be streamed (from its metadata alone), or None. A file that
    is not readable as Parquet is left to the reader, which says so."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = stream.tell()
    try:
        metadata = pq.ParquetFile(stream).metadata
    except (pa.ArrowException, OSError, ValueError):
        return None
    finally:
        stream.seek(start)
    total = 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        size = max(
            group.total_byte_size,
            sum(group.column(c).total_uncompressed_size for c in range(group.num_columns)),
        )
        total += size
        if group.num_rows > MAX_ROW_GROUP_ROWS or size > MAX_ROW_GROUP_BYTES:
            return (
                f"Row group {index + 1} of the Parquet file holds {group.num_rows:,} rows and "
                f"{size:,} bytes uncompressed; at most {MAX_ROW_GROUP_ROWS:,} rows and "
                f"{MAX_ROW_GROUP_BYTES:,} bytes are read at a time. Write the file with smaller "
                "row groups (for example pyarrow's row_group_size=10000)."
            )
    if total > MAX_PARQUET_BYTES:
        return (
            f"The Parquet file holds {total:,} bytes uncompressed, over the "
            f"{MAX_PARQUET_BYTES:,}-byte limit."
        )
    return None


class _NestingGuard:
    """A binary stream of JSON that passes on at most ``limit`` levels of brackets: a value
    nested deeper is replaced by ``null`` as it streams."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream, self._limit = stream, limit
        self._depth = 0
        self._in_string = False
        self._escaped = False  # the string's next byte is escaped (a chunk ended on "\\")
        self._skipping: int | None = None  # the depth of the value being replaced

    def read(self, size: int = -1) -> bytes:
        while chunk := self._stream.read(size):
            if passed := self._filter(chunk):
                return passed
            # Everything read was skipped: read on, since an empty answer means the end.
        return b""

    def _filter(self, chunk: bytes) -> bytes:
        """The chunk as it may pass. Usually no bracket in it goes past the limit, which
        C-speed byte operations tell; only then is it walked mark by mark."""
        if self._skipping is None:
            state = (self._in_string, self._escaped)
            start = self._string_end(chunk, 0) if self._in_string else 0
            if self._in_string:
                return chunk  # all of it inside one string
            plain = _STRING.sub(b"", chunk[start:])
            opened = plain.find(b'"')  # a string that goes on into the next chunk
            brackets = (plain if opened < 0 else plain[:opened]).translate(None, _NOT_BRACKETS)
            depths = list(accumulate(map(_STEP.__getitem__, brackets), initial=self._depth))
            if max(depths) <= self._limit:
                self._depth = depths[-1]
                if opened >= 0:
                    self._in_string = True
                    self._escaped = (len(chunk) - len(chunk.rstrip(b"\\"))) % 2 == 1
                return chunk
            self._in_string, self._escaped = state
        return self._walk(chunk)

    def _walk(self, chunk: bytes) -> bytes:
        kept: list[bytes] = []
        keep_from: int | None = None if self._skipping else 0
        pos = self._string_end(chunk, 0) if self._in_string else 0
        while match := _MARK.search(chunk, pos):
            mark, pos = match.group(), match.end()
            if mark == b'"':
                pos = self._string_end(chunk, pos)
            elif mark in b"[{":
                self._depth += 1
                if self._skipping is None and self._depth > self._limit:
                    self._skipping = self._depth
                    kept += [chunk[keep_from : match.start()], b"null"]
                    keep_from = None
            else:
                if self._depth == self._skipping:
                    self._skipping, keep_from = None, pos
                self._depth -= 1
        if keep_from is not None:
            kept.append(chunk[keep_from:])
        return b"".join(kept)

    def _string_end(self, chunk: bytes, start: int) -> int:
        """Where the string that runs from ``start`` ends (after its quote), or the chunk's
        end when it goes on into the next chunk."""
        if self._escaped:
            start, self._escaped = start + 1, False
        end = _STRING_REST.match(chunk, start)
        if end:
            self._in_string = False
            return end.end()
        rest = chunk[start:]
        self._in_string = True
        self._escaped = (len(rest) - len(rest.rstrip(b"\\"))) % 2 == 1
        return len(chunk)


_MARK = re.compile(rb'["\[\]{}]')
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if b in b"[{" else -1 for b in range(256)]
# A JSON string or a bracket: brackets inside strings do not nest.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep(record: dict[str, Any], bound: int | None = None) -> bool:
    """Whether a record nests objects and arrays more than ``MAX_DEPTH`` levels, counting
    JSON text in its fields (a CSV cell holding the demonstrations, parsed later); not when
    its source holds too few brackets (``bound``) to nest that deep."""
    if bound is not None and bound < MAX_DEPTH:
        return False
    for value in record.values():
        if isinstance(value, str):
            if len(value) >= MAX_DEPTH and _text_depth(value) >= MAX_DEPTH:
                return True
        elif isinstance(value, dict | list) and _deeper_than(value, MAX_DEPTH - 1):
            return True
    return False


def _deeper_than(data: Any, levels: int) -> bool:
    """Whether ``data`` nests more than ``levels`` levels (iterative: no input can exhaust
    the stack here)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        elif not isinstance(value, list):
            continue
        if depth > levels:
            return True
        stack.extend((child, depth + 1) for child in value)
    return False


def _text_depth(text: str) -> int:
    """How deep the JSON in ``text`` nests, 0 when it could not reach ``MAX_DEPTH``."""
    if text.count("[") + text.count("{") < MAX_DEPTH:
        return 0
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(text):
        mark = token.group()
        if mark in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif mark in "]}":
            depth -= 1
    return deepest


def convert_row(
    record: readers.Record,
    options: ImportOptions,
    schema: str,
    limits: ContentLimits | None = None,
) -> RowResult:
    """The row as it will be stored, or its problems; ``limits`` are the text limits (the
    process's settings when not given: a caller converting many rows passes them once)."""
    if record.error:
        return RowResult(record.number, None, [record.error])
    converted = schemas.convert(record.data, schema, options.mapping or None, options.one_exchange)
    if converted.errors or converted.content is None:
        return RowResult(record.number, None, converted.errors or ["not an item"])
    content = converted.content.model_dump(mode="json")
    changes = []
    if options.cleaning:
        changes = cleaning.clean_dump(content, set(options.cleaning))
        if changes:
            try:  # cleaning may leave a required field empty
                content = ItemContent.model_validate(content).model_dump(mode="json")
            except ValidationError as error:
                return RowResult(record.number, None, validation_messages(error), changes)
    limits = limits or ContentLimits.of()
    too_long = not _surely_within(content, limits) and overlong(content, content["demos"], limits)
    if too_long:
        return RowResult(record.number, None, [m % p for _f, m, p in too_long], changes)
    # Before the row is hashed: the content hash covers the language, as every save's does.
    content["language"] = converted.meta.get("language") or script_language(content)
    draft = {"content": content, "meta": converted.meta}
    return RowResult(record.number, draft, [], changes, converted.warnings)


def script_language(content: dict[str, Any]) -> str:
    """``zh`` for content with Chinese text (a pair's rejected response included), else ``en``:
    an import's cheap stand-in for language detection, for rows whose file states none."""
    text = "\n".join([content[name] for name in ("instruction", "input", "output", "rejected")])
    if content["turns"] or content["system"]:  # every turn speaks for the language
        turns = (turn["content"] for turn in content["turns"])
        text = "\n".join([text, content["system"], *turns])
    return "zh" if not text.isascii() and has_cjk(text) else "en"


def _surely_within(content: dict[str, Any], limits: ContentLimits) -> bool:
    """True when no text of ``content`` is over its limit, told from three lengths: most rows
    are far below every limit, and ``overlong`` builds a measurement for each text."""
    return (
        not content["demos"]
        and not content["turns"]
        and len(content["system"]) <= limits.system
        and len(content["instruction"]) <= limits.instruction
        and len(content["input"]) <= limits.input
        and max(len(content["output"]), len(content["rejected"])) <= limits.output
    )


def validate(
    job: ImportJob,
    options: ImportOptions,
    *,
    progress: Progress | None = None,
    preview_rows: int = 10,
    known: Existing | None = None,
) -> dict[str, Any]:
    """Read the whole file once: counts, the first rows as they will be stored, problems,
    warnings; with ``known`` (what the project holds), the rows already in it
    (``duplicates``) and the conversations whose first exchange is an imported task
    (``matched``, and the first numbers in ``matches``), which the import skips unless told to
    write them."""
    schema = schema_for(job, options)
    total = valid = duplicates = matched = 0
    problems: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    matches: list[int] = []
    preview: list[RowResult] = []
    limits = ContentLimits.of()
    for record in records(job):
        total += 1
        row = convert_row(record, options, schema, limits)
        if row.errors:
            if len(problems) < MAX_REPORTED:
                problems.append({"number": row.number, "reasons": row.errors})
        else:
            valid += 1
            if row.warnings and len(warnings) < MAX_REPORTED:
                warnings.append({"number": row.number, "reasons": row.warnings})
            if known is not None and row.draft is not None:
                content = row.draft["content"]
                if dump_hash(content) in known.hashes:
                    duplicates += 1
                elif known.matches_task(content):
                    matched += 1
                    if len(matches) < MAX_REPORTED:
                        matches.append(row.number)
        if len(preview) < preview_rows:
            preview.append(row)
        if progress and total % 1000 == 0:
            progress("validating", total, 0)
    return {
        "schema": schema,
        "total": total,
        "valid": valid,
        "invalid": total - valid,
        "problems": problems,
        "warnings": warnings,
        "duplicates": duplicates,
        "matched": matched,
        "matches": matches,
        "preview": preview,
    }


def schema_for(job: ImportJob, options: ImportOptions) -> str:
    """The schema rows are read as: the override, else the detected one; an unrecognised file
    with data needs a column mapping."""
    schema = options.schema or job.schema
    if schema == "unknown" and not options.mapping and _has_data(job):
        raise InvalidInput(
            N_(
                "The file's columns match no known format. Map the columns "
                "to instruction, input and output."
            ),
            errors={"mapping": N_("Required.")},
        )
    return schema


def _has_data(job: ImportJob) -> bool:
    return any(r.data is not None for r in islice(records(job), SAMPLE))
