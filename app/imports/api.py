"""JSON API for imports: upload and import a file in one call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from app.auth.deps import Admin
from app.core.protocol import API_ROOT
from app.db import DbSession
from app.imports import service
from app.imports.reader import ImportOptions
from app.projects import service as projects

router = APIRouter(prefix=API_ROOT, tags=["datasets"])


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
    job = service.store_upload(
        session=session,
        project=project,
        filename=file.filename or "upload",
        stream=file.file,
        folder=request.app.state.settings.resolved_artifacts_dir / "imports",
        actor=user,
    )
    job = service.run(
        session=session,
        job_id=job.id,
        actor=user,
        options=ImportOptions(schema=format, mode=mode, status=status, cleaning=cleaning or []),
    )
    if job.state == "done":
        service.index_near_duplicates(session=session, job_id=job.id)
    return ImportOut.model_validate(job, from_attributes=True)
