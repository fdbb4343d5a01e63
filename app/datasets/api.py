"""JSON API for dataset versions; the manifest and splits are readable by trainer workers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.apidoc import ERRORS, PathId
from app.auth.deps import ProjectManager, ProjectReviewer, Worker
from app.background.schemas import TaskOut
from app.core.job_paths import API_ROOT, WorkerPath
from app.core.kinds import ItemContent
from app.core.protocol import DatasetItem, DatasetManifest, DatasetSplitPage
from app.core.provenance import Origin
from app.datasets import duplicates, export, task, versions
from app.datasets.versions import VersionFilter
from app.db import MAX_INTEGER, DbSession
from app.jobs import queue
from app.projects import service as projects

router = APIRouter(prefix=API_ROOT, tags=["datasets"], responses=ERRORS)


class VersionIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    statuses: list[str] = Field(default_factory=lambda: ["approved"])
    kinds: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    origins: list[Origin] = Field(
        default_factory=list, description="How the items were made; empty means any."
    )
    drafted: Literal["", "yes", "no"] = Field(
        default="",
        description="'yes': only items whose output a model drafted; 'no': none of them.",
    )
    seed: int = Field(default=13, ge=0, le=MAX_INTEGER)
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
    response_model=TaskOut,
    status_code=202,
    name="api_dataset_create",
)
def create(project_id: PathId, body: VersionIn, session: DbSession, user: ProjectManager):
    """Queue the freeze of the matching items into a new dataset version. Poll the task
    (``/api/v1/tasks/{id}``): once done, its ``result.version_id`` names the version."""
    project = projects.get_project(session=session, project_id=project_id)
    f = VersionFilter(
        statuses=body.statuses,
        kinds=body.kinds,
        domains=body.domains,
        tags=body.tags,
        languages=body.languages,
        origins=body.origins,
        drafted=body.drafted,
    )
    queued = task.start(
        session=session,
        project=project,
        name=body.name,
        f=f,
        actor=user,
        seed=body.seed,
        eval_fraction=body.eval_fraction,
        license=body.license,
    )
    return TaskOut.model_validate(queued)


@router.get("/datasets/{version_id}", response_model=VersionOut, name="api_dataset")
def get(version_id: PathId, session: DbSession, user: ProjectReviewer):
    """A version's manifest, statistics and contamination report."""
    version = versions.get_version(session=session, version_id=version_id)
    return VersionOut(
        **_manifest(version),
        filter=version.filter,
        stats=version.stats,
        contamination=version.contamination,
    )


@router.get(
    "/datasets/{version_id}/export",
    name="api_dataset_export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The zip."}},
)
def download(
    request: Request,
    version_id: PathId,
    session: DbSession,
    user: ProjectReviewer,
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
def worker_manifest(version_id: PathId, session: DbSession, token: Worker):
    """For trainer workers: what a version holds."""
    version = versions.get_version(session=session, version_id=version_id)
    queue.check_reader(session=session, token_id=token.id, version_id=version.id)
    return DatasetManifest(**_manifest(version))


@router.get(
    WorkerPath.SPLIT,
    response_model=DatasetSplitPage,
    name="api_worker_split",
)
def worker_split(
    version_id: PathId,
    split: Literal["train", "eval"],
    session: DbSession,
    token: Worker,
    after: Annotated[int, Query(ge=-1, le=MAX_INTEGER)] = -1,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
):
    """For trainer workers: one page of a split, in the version's fixed order."""
    version = versions.get_version(session=session, version_id=version_id)
    queue.check_reader(session=session, token_id=token.id, version_id=version.id)
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


class VersionSummary(BaseModel):
    """A dataset version as the project's list shows it; ``/datasets/{id}`` has the rest."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime
    train_count: int
    eval_count: int
    manifest_hash: str = Field(description="SHA-256 of the manifest: equal hashes, equal data.")
    license: str


@router.get(
    "/projects/{project_id}/datasets", response_model=list[VersionSummary], name="api_datasets"
)
def list_dataset_versions(
    project_id: PathId, session: DbSession, user: ProjectReviewer
) -> list[VersionSummary]:
    """The project's dataset versions, newest first."""
    return [
        VersionSummary.model_validate(v)
        for v in versions.list_versions(session=session, project_id=project_id)
    ]


class DuplicateItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str
    version: int
    instruction: str


class DuplicateCluster(BaseModel):
    kind: Literal["exact", "near"]
    similarity: float = Field(
        description="1 for exact copies; for near ones, the highest word-shingle Jaccard "
        "similarity between two members (at least 0.5)."
    )
    items: list[DuplicateItem] = Field(description="Oldest first; rejected items are left out.")


class DuplicatesOut(BaseModel):
    exact: list[DuplicateCluster]
    near: list[DuplicateCluster]


def _clusters(found: list[duplicates.Cluster]) -> list[DuplicateCluster]:
    return [
        DuplicateCluster(
            kind=c.kind,
            similarity=c.similarity,
            items=[DuplicateItem.model_validate(i) for i in c.items],
        )
        for c in found
    ]


@router.get(
    "/projects/{project_id}/duplicates", response_model=DuplicatesOut, name="api_duplicates"
)
def list_duplicates(project_id: PathId, session: DbSession, user: ProjectReviewer) -> DuplicatesOut:
    """Clusters of exact and near-duplicate items (at most 100 of each), as the duplicates
    page shows them; the most similar near-duplicates come first."""
    return DuplicatesOut(
        exact=_clusters(duplicates.exact_clusters(session, project_id)),
        near=_clusters(duplicates.near_clusters(session, project_id)),
    )
