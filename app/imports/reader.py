"""Reading an uploaded import: what format it is, each row as it will be stored, and the
report (counts, problems numbered by line or row, a preview).

A file is stored as uploaded and read as a stream every time (never whole in memory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.core.formats import cleaning, readers, schemas
from app.core.formats.fields import validation_messages
from app.core.kinds import ItemContent
from app.errors import InvalidInput
from app.i18n import N_
from app.models import ImportJob

SAMPLE = 50
MAX_REPORTED = 500
MODES = ("all_or_nothing", "valid_rows")
Progress = Callable[[str, int, int], None]


@dataclass
class ImportOptions:
    schema: str | None = None  # None: as detected
    mapping: dict[str, str] = field(default_factory=dict)
    mode: str = "all_or_nothing"
    status: str = "draft"
    cleaning: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RowResult:
    number: int
    draft: dict[str, Any] | None
    errors: list[str]
    changes: list[tuple[str, str, str]] = field(default_factory=list)


def detect(path: Path, container: str) -> str:
    with path.open("rb") as f:
        sample = [r.data for r in islice(readers.iter_records(f, container), SAMPLE) if r.data]
    return schemas.detect_schema(sample) if sample else "unknown"


def records(job: ImportJob) -> Iterator[readers.Record]:
    with Path(job.path).open("rb") as f:
        yield from readers.iter_records(f, job.container)


def convert_row(record: readers.Record, options: ImportOptions, schema: str) -> RowResult:
    if record.error:
        return RowResult(record.number, None, [record.error])
    converted = schemas.convert(record.data, schema, options.mapping or None)
    if converted.errors or converted.content is None:
        return RowResult(record.number, None, converted.errors or ["not an item"])
    content = converted.content.model_dump(mode="json")
    changes = []
    if options.cleaning:
        for name in ("instruction", "input", "output"):
            cleaned = cleaning.clean(content[name], set(options.cleaning))
            if cleaned != content[name]:
                changes.append((name, content[name], cleaned))
                content[name] = cleaned
        if changes:
            try:  # cleaning may leave a required field empty
                content = ItemContent.model_validate(content).model_dump(mode="json")
            except ValidationError as error:
                return RowResult(record.number, None, validation_messages(error), changes)
    return RowResult(record.number, {"content": content, "meta": converted.meta}, [], changes)


def validate(
    job: ImportJob,
    options: ImportOptions,
    *,
    progress: Progress | None = None,
    preview_rows: int = 10,
) -> dict[str, Any]:
    """Read the whole file once: counts, the first rows as they will be stored, problems."""
    schema = schema_for(job, options)
    total = valid = 0
    problems: list[dict[str, Any]] = []
    preview: list[RowResult] = []
    for record in records(job):
        total += 1
        row = convert_row(record, options, schema)
        if row.errors:
            if len(problems) < MAX_REPORTED:
                problems.append({"number": row.number, "reasons": row.errors})
        else:
            valid += 1
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
