"""JSON API for imports: upload and import a file in one call."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.apidoc import ERRORS, PathId
from app.auth.deps import ProjectManager
from app.core.protocol import API_ROOT
from app.db import DbSession
from app.imports import service
from app.imports.reader import ImportOptions
from app.imports.upload import ImportUpload, form_body
from app.projects import service as projects

router = APIRouter(prefix=API_ROOT, tags=["datasets"], responses=ERRORS)


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


class ImportForm(BaseModel):
    """The multipart form of an import; the file is written to disk as it arrives."""

    file: bytes
    format: str | None = Field(default=None, description="Override the detected format.")
    mode: str = "all_or_nothing"
    status: str = "draft"
    cleaning: list[str] | None = None


@router.post(
    "/projects/{project_id}/imports",
    response_model=ImportOut,
    status_code=201,
    name="api_import",
    openapi_extra=form_body(ImportForm),
    responses={413: {"description": "The file is larger than the import limit."}},
)
def import_file(project_id: PathId, upload: ImportUpload, session: DbSession, user: ProjectManager):
    """Upload and import a file in one call; the answer is the report (line-numbered)."""
    project = projects.get_project(session=session, project_id=project_id)
    job = service.record_upload(session=session, project=project, upload=upload.file, actor=user)
    options = ImportOptions(
        schema=upload.value("format"),
        mode=upload.value("mode", "all_or_nothing"),
        status=upload.value("status", "draft"),
        cleaning=upload.values("cleaning"),
    )
    job = service.run(session=session, job_id=job.id, actor=user, options=options)
    if job.state == "done":
        service.index_near_duplicates(session=session, job_id=job.id)
    return ImportOut.model_validate(job, from_attributes=True)
