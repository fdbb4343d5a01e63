"""Importing files: upload, preview with a validation report, then import.

A file is stored as uploaded and read as a stream every time (never whole in memory).
The report numbers each problem by line or row. "All or nothing" imports nothing when the
report has a problem; "valid rows" imports the rest. Either way, an item whose content is
already in the project is skipped, so importing the same file twice adds nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core.cjk import has_cjk
from app.core.formats import cleaning, readers, schemas
from app.core.kinds import content_hash
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.items import indexing
from app.models import ImportJob, Item, ItemRevision, NearDupKey, Project, SearchTerm, User
from app.models.base import utcnow

SAMPLE = 50
MAX_REPORTED = 500
BATCH = 500
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


def store_upload(
    *,
    session: Session,
    project: Project,
    filename: str,
    stream: BinaryIO,
    folder: Path,
    actor: User,
) -> ImportJob:
    """Save the file (hashing it on the way) and record what it looks like."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}-{Path(filename).name[-100:]}"
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as out:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    with path.open("rb") as f:
        container = readers.detect_container(filename, f.read(4096))
    job = ImportJob(
        project_id=project.id,
        filename=Path(filename).name[-300:],
        path=str(path),
        file_hash=digest.hexdigest(),
        size=size,
        container=container,
        schema=detect(path, container),
        created_by=actor.id,
    )
    session.add(job)
    session.flush()
    return job


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
    return RowResult(record.number, {"content": content, "meta": converted.meta}, [], changes)


def validate(
    job: ImportJob,
    options: ImportOptions,
    *,
    progress: Progress | None = None,
    preview_rows: int = 10,
) -> dict[str, Any]:
    """Read the whole file once: counts, the first rows as they will be stored, problems."""
    schema = options.schema or job.schema
    if schema == "unknown" and not options.mapping and _has_data(job):
        raise InvalidInput(
            N_(
                "The file's columns match no known format. Map the columns "
                "to instruction, input and output."
            ),
            errors={"mapping": N_("Required.")},
        )
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


def _has_data(job: ImportJob) -> bool:
    return any(r.data is not None for r in islice(records(job), SAMPLE))


def run(
    *,
    session: Session,
    job_id: int,
    options: ImportOptions,
    actor: User,
    progress: Progress | None = None,
) -> ImportJob:
    """Import in the caller's transaction (all-or-nothing is one transaction)."""
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(N_("No import with id %(id)s."), id=job_id)
    if job.state == "done":
        raise Conflict(N_("This import has already run."))
    if options.mode not in MODES or options.status not in ("draft", "submitted"):
        raise InvalidInput(N_("Choose how to import."), errors={"mode": N_("Invalid.")})
    bad = set(options.cleaning) - set(cleaning.RULES)
    if bad:
        raise InvalidInput(N_("Unknown cleaning rule."), errors={"cleaning": N_("Invalid.")})
    project = session.get(Project, job.project_id)
    report = validate(job, options, progress=progress, preview_rows=0)
    job.options = options.as_dict()
    job.schema = report["schema"]
    job.rows_total = report["total"]
    job.error_count = report["invalid"]
    job.errors = report["problems"]
    if report["total"] == 0 or (options.mode == "all_or_nothing" and report["invalid"]):
        job.state = "failed"
        job.message = (
            "The file is empty."
            if report["total"] == 0
            else "Nothing was imported: the report lists problems and the mode is all-or-nothing."
        )
        job.finished_at = utcnow()
        session.flush()
        return job
    job.state = "running"
    seen = set(session.scalars(select(Item.content_hash).where(Item.project_id == project.id)))
    created = skipped = done = 0
    batch: list[dict[str, Any]] = []
    for record in records(job):
        done += 1
        row = convert_row(record, options, report["schema"])
        if row.draft is None:
            continue
        row.draft["hash"] = content_hash(row.draft["content"])
        if row.draft["hash"] in seen:
            skipped += 1
            continue
        seen.add(row.draft["hash"])
        batch.append(row.draft)
        if len(batch) >= BATCH:
            created += _insert(session, project, job, batch, options, actor)
            batch = []
            if progress:
                progress("importing", done, report["total"])
    if batch:
        created += _insert(session, project, job, batch, options, actor)
    job.rows_done = done
    job.created_items = created
    job.skipped_duplicates = skipped
    job.state = "done"
    job.finished_at = utcnow()
    job.message = None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="import.completed",
        entity_type="import",
        entity_id=job.id,
        after={
            "file": job.filename,
            "sha256": job.file_hash,
            "created": created,
            "skipped": skipped,
            "invalid": report["invalid"],
            "mode": options.mode,
        },
    )
    if progress:
        progress("importing", done, report["total"])
    return job


def _insert(
    session: Session,
    project: Project,
    job: ImportJob,
    batch: list[dict[str, Any]],
    options: ImportOptions,
    actor: User,
) -> int:
    now = utcnow()
    rows = []
    for entry in batch:
        content, meta = entry["content"], entry["meta"]
        text = "\n".join([content["instruction"], content["input"], content["output"]])
        status = "draft" if meta.get("needs_output") else options.status
        rows.append(
            {
                **{
                    k: content[k]
                    for k in (
                        "kind",
                        "instruction",
                        "input",
                        "output",
                        "demos",
                        "constraints",
                        "rules",
                        "state_constraints",
                    )
                },
                # Our own exports carry the language; otherwise Chinese text is marked zh.
                "language": meta.get("language") or ("zh" if has_cjk(text) else "en"),
                "project_id": project.id,
                "status": status,
                "domain": meta.get("domain"),
                "difficulty": meta.get("difficulty"),
                "tags": meta.get("tags") or [],
                "source": f"import:{job.id}:{job.filename}"[:200],
                "author_id": actor.id,
                "guideline_version": project.guideline_version,
                "content_hash": entry["hash"],
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "submitted_at": now if status == "submitted" else None,
            }
        )
    ids = session.scalars(insert(Item).returning(Item.id, sort_by_parameter_order=True), rows).all()
    revisions, terms = [], []
    for item_id, row in zip(ids, rows, strict=True):
        snap = {
            k: row[k]
            for k in (
                "kind",
                "instruction",
                "input",
                "output",
                "demos",
                "constraints",
                "rules",
                "state_constraints",
                "language",
                "domain",
                "difficulty",
                "tags",
                "status",
            )
        }
        revisions.append(
            {
                "item_id": item_id,
                "version": 1,
                "snapshot": snap,
                "content_hash": row["content_hash"],
                "editor_id": actor.id,
                "created_at": now,
            }
        )
        demos = row["demos"] or []
        text = "\n".join(
            [
                row["instruction"],
                row["input"],
                row["output"],
                *[f"{d['input']}\n{d['output']}" for d in demos],
            ]
        )
        terms.extend({"term": t, "item_id": item_id} for t in indexing.terms_of(text))
    session.execute(insert(ItemRevision), revisions)
    if terms:
        session.execute(insert(SearchTerm), terms)
    return len(ids)


def index_near_duplicates(
    *, session: Session, job_id: int, progress: Progress | None = None
) -> int:
    """The follow-up pass: near-duplicate keys for the items an import created."""
    job = session.get(ImportJob, job_id)
    source = f"import:{job.id}:{job.filename}"[:200]
    items = session.scalars(
        select(Item)
        .where(Item.project_id == job.project_id, Item.source == source)
        .execution_options(yield_per=1000)
    ).all()
    done = 0
    rows: list[dict[str, Any]] = []
    for item in items:
        rows.extend(indexing.near_dup_rows(item.id, item.project_id, indexing.item_text(item)))
        done += 1
        if len(rows) >= 5000:
            session.execute(insert(NearDupKey), rows)
            rows = []
            if progress:
                progress("indexing", done, len(items))
    if rows:
        session.execute(insert(NearDupKey), rows)
    if progress:
        progress("indexing", done, len(items))
    return done


def job_of(*, session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(N_("No import with id %(id)s."), id=job_id)
    return job


def list_jobs(*, session: Session, project_id: int) -> list[ImportJob]:
    return list(
        session.scalars(
            select(ImportJob)
            .where(ImportJob.project_id == project_id)
            .order_by(ImportJob.id.desc())
            .limit(50)
        )
    )
