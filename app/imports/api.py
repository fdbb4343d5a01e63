"""JSON API for imports: upload a file and queue its import in one call, then poll it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.apidoc import ERRORS, PathId
from app.auth.deps import ProjectManager
from app.core.formats import schemas
from app.core.job_paths import API_ROOT
from app.db import DbSession
from app.imports import service, task
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
    task_id: int | None = Field(
        description="The background task that runs the import: poll /api/v1/tasks/{task_id} "
        "for progress, or this import until its state is done, failed or cancelled."
    )

    model_config = {"populate_by_name": True}


class ImportForm(BaseModel):
    """The multipart form of an import; the file is written to disk as it arrives."""

    file: bytes
    format: str | None = Field(
        default=None,
        description="Override the detected format: one of "
        + ", ".join(schemas.SCHEMAS)
        + ". trl_preference (prompt, chosen, rejected: text or message lists) and hh_rlhf "
        "(chosen and rejected dialogues: message lists or HH text) hold preference pairs.",
    )
    mode: str = "all_or_nothing"
    status: str = "draft"
    cleaning: list[str] | None = None
    one_exchange: str = Field(
        default="conversation",
        description="What a chat row of one user turn and its reply becomes: a conversation "
        "(lossless) or a task. Longer chats are always conversations.",
    )
    task_matches: str = Field(
        default="skip",
        description="A conversation whose first exchange is a task imported earlier (the same "
        "chat file imported in the task form): skip it, or import it too.",
    )


@router.post(
    "/projects/{project_id}/imports",
    response_model=ImportOut,
    status_code=202,
    name="api_import",
    openapi_extra=form_body(ImportForm),
    responses={413: {"description": "The file is larger than the import limit."}},
)
def import_file(project_id: PathId, upload: ImportUpload, session: DbSession, user: ProjectManager):
    """Upload a file and queue its import; the answer comes at once, with the import
    ``queued``. Poll the import (or its task) for progress; once done it carries the report
    (line-numbered problems)."""
    project = projects.get_project(session=session, project_id=project_id)
    job = service.record_upload(session=session, project=project, upload=upload.file, actor=user)
    options = ImportOptions(
        schema=upload.value("format"),
        mode=upload.value("mode", "all_or_nothing"),
        status=upload.value("status", "draft"),
        cleaning=upload.values("cleaning"),
        one_exchange=upload.value("one_exchange", "conversation"),
        task_matches=upload.value("task_matches", "skip"),
    )
    task.start(session=session, job=job, options=options, actor=user)
    return ImportOut.model_validate(job, from_attributes=True)


@router.get("/imports/{import_id}", response_model=ImportOut, name="api_import_get")
def get_import(import_id: PathId, session: DbSession, user: ProjectManager):
    """An import: its state and, once it has run, the report."""
    return ImportOut.model_validate(
        service.job_of(session=session, job_id=import_id), from_attributes=True
    )
