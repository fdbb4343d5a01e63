"""JSON API for dataset versions; the manifest and splits are readable by trainer workers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.auth.deps import Admin, Reviewer, Worker
from app.core.kinds import ItemContent
from app.core.protocol import API_ROOT, DatasetItem, DatasetManifest, DatasetSplitPage, WorkerPath
from app.datasets import export, imports, versions
from app.datasets.versions import VersionFilter
from app.db import DbSession
from app.projects import service as projects

router = APIRouter(prefix=API_ROOT, tags=["datasets"])


class VersionIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    statuses: list[str] = Field(default_factory=lambda: ["approved"])
    kinds: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    seed: int = 13
    eval_fraction: float = Field(default=0.1, ge=0, lt=1)
    license: str = ""


class VersionOut(DatasetManifest):
    filter: dict
    stats: dict
    contamination: list


def _manifest(version) -> dict:
    return {
        "version_id": version.id,
        "name": version.name,
        "project_id": version.project_id,
        "manifest_hash": version.manifest_hash,
        "seed": version.seed,
        "eval_fraction": version.eval_fraction,
        "train_count": version.train_count,
        "eval_count": version.eval_count,
    }


@router.post(
    "/projects/{project_id}/datasets",
    response_model=VersionOut,
    status_code=201,
    name="api_dataset_create",
)
def create(project_id: int, body: VersionIn, session: DbSession, user: Admin):
    """Freeze the matching items into a new dataset version."""
    project = projects.get_project(session=session, project_id=project_id)
    f = VersionFilter(
        statuses=body.statuses,
        kinds=body.kinds,
        domains=body.domains,
        tags=body.tags,
        languages=body.languages,
    )
    version = versions.create_version(
        session=session,
        project=project,
        name=body.name,
        f=f,
        actor=user,
        seed=body.seed,
        eval_fraction=body.eval_fraction,
        license=body.license,
    )
    return VersionOut(
        **_manifest(version),
        filter=version.filter,
        stats=version.stats,
        contamination=version.contamination,
    )


@router.get("/datasets/{version_id}", response_model=VersionOut, name="api_dataset")
def get(version_id: int, session: DbSession, user: Reviewer):
    """A version's manifest, statistics and contamination report."""
    version = versions.get_version(session=session, version_id=version_id)
    return VersionOut(
        **_manifest(version),
        filter=version.filter,
        stats=version.stats,
        contamination=version.contamination,
    )


@router.get("/datasets/{version_id}/export", name="api_dataset_export")
def download(
    request: Request,
    version_id: int,
    session: DbSession,
    user: Reviewer,
    format: Annotated[str, Query(max_length=20)] = "alpaca_jsonl",
):
    """The export as a streamed zip (README.md and one file per split)."""
    version = versions.get_version(session=session, version_id=version_id)
    export.check_format(format)
    return StreamingResponse(
        export.stream_zip(request.app.state.open_session, version.id, format),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="dataset-{version.id}-{format}.zip"'
        },
    )


@router.get(
    WorkerPath.MANIFEST,
    response_model=DatasetManifest,
    name="api_worker_manifest",
)
def worker_manifest(version_id: int, session: DbSession, token: Worker):
    """For trainer workers: what a version holds."""
    return DatasetManifest(
        **_manifest(versions.get_version(session=session, version_id=version_id))
    )


@router.get(
    WorkerPath.SPLIT,
    response_model=DatasetSplitPage,
    name="api_worker_split",
)
def worker_split(
    version_id: int,
    split: Literal["train", "eval"],
    session: DbSession,
    token: Worker,
    after: Annotated[int, Query(ge=-1)] = -1,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
):
    """For trainer workers: one page of a split, in the version's fixed order."""
    version = versions.get_version(session=session, version_id=version_id)
    rows = list(versions.pinned(session, version.id, split, after=after, limit=limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        DatasetItem(
            item_id=link.item_id,
            revision=link.revision,
            split=split,
            content=ItemContent.from_row(rev.snapshot),
            domain=rev.snapshot.get("domain"),
            tags=rev.snapshot.get("tags") or [],
        )
        for link, rev in rows
    ]
    return DatasetSplitPage(
        version_id=version.id,
        split=split,
        items=items,
        next_cursor=rows[-1][0].position if more else None,
    )


class ImportOut(BaseModel):
    id: int
    filename: str
    container: str
    schema_: str = Field(alias="schema")
    state: str
    rows_total: int
    created_items: int
    skipped_duplicates: int
    error_count: int
    errors: list
    message: str | None

    model_config = {"populate_by_name": True}


@router.post(
    "/projects/{project_id}/imports", response_model=ImportOut, status_code=201, name="api_import"
)
def import_file(
    request: Request,
    project_id: int,
    session: DbSession,
    user: Admin,
    file: Annotated[UploadFile, File()],
    format: Annotated[str | None, Form(description="Override the detected format.")] = None,
    mode: Annotated[str, Form()] = "all_or_nothing",
    status: Annotated[str, Form()] = "draft",
    cleaning: Annotated[list[str] | None, Form()] = None,
):
    """Upload and import a file in one call; the answer is the report (line-numbered)."""
    project = projects.get_project(session=session, project_id=project_id)
    job = imports.store_upload(
        session=session,
        project=project,
        filename=file.filename or "upload",
        stream=file.file,
        folder=request.app.state.settings.resolved_artifacts_dir / "imports",
        actor=user,
    )
    job = imports.run(
        session=session,
        job_id=job.id,
        actor=user,
        options=imports.ImportOptions(
            schema=format, mode=mode, status=status, cleaning=cleaning or []
        ),
    )
    if job.state == "done":
        imports.index_near_duplicates(session=session, job_id=job.id)
    return ImportOut.model_validate(job, from_attributes=True)
