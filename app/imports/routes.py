"""Import pages: upload, preview and report, options, run with a progress bar."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.datastructures import FormData

from app.auth.deps import ProjectManager
from app.background import queue
from app.core.formats import chats, cleaning
from app.db import DbSession
from app.imports import reader, task
from app.imports import service as imports
from app.imports.matches import Existing
from app.imports.reader import ImportOptions
from app.imports.upload import ImportUpload, form_body
from app.items.forms import form_data
from app.projects import service as projects
from app.web import form_rejection, redirect, render

router = APIRouter()
SCHEMAS = (
    *("alpaca", "self_instruct", "dolly", "sharegpt", "openai_chat", "ifeval"),
    *("trl_preference", "hh_rlhf", "studio"),
)
Form_ = Annotated[FormData, Depends(form_data)]


class UploadForm(BaseModel):
    """The upload form, as sent: the CSRF field first, then the file."""

    csrf_token: str = Field(default="", description="Before the file; needed with a cookie.")
    file: bytes


def options_from(form) -> ImportOptions:
    mapping = {
        name: form.get(f"map_{name}", "").strip() for name in ("instruction", "input", "output")
    }
    return ImportOptions(
        schema=(form.get("schema") or None),
        mode=form.get("mode", "all_or_nothing"),
        status=form.get("status", "draft"),
        mapping={k: v for k, v in mapping.items() if v},
        cleaning=[r for r in form.getlist("cleaning") if r in cleaning.RULES],
        one_exchange=form.get("one_exchange") or "conversation",
        # The box imports matches; unchecked (as a form leaves it) they are skipped.
        task_matches="import" if form.get("task_matches") == "import" else "skip",
    )


def _task_of(session, job):
    return queue.get(session, job.task_id) if job.task_id else None


@router.get("/projects/{project_id}/imports", name="imports")
def import_list(request: Request, session: DbSession, user: ProjectManager, project_id: int):
    """Upload a file to import, and past imports."""
    project = projects.get_project(session=session, project_id=project_id)
    return render(
        request,
        "imports/list.html",
        {"project": project, "jobs": imports.list_jobs(session=session, project_id=project.id)},
    )


@router.post(
    "/projects/{project_id}/imports",
    name="import_upload",
    openapi_extra=form_body(UploadForm),
)
def import_upload(
    request: Request,
    upload: ImportUpload,
    session: DbSession,
    user: ProjectManager,
    project_id: int,
):
    """Store the uploaded file (streamed to disk as it arrives) and show its preview."""
    project = projects.get_project(session=session, project_id=project_id)
    job = imports.record_upload(session=session, project=project, upload=upload.file, actor=user)
    return redirect(request, request.app.url_path_for("import_job", import_id=job.id))


def _job_page(request, session, job, *, options=None, report=None, error=None, status=200):
    project = projects.get_project(session=session, project_id=job.project_id)
    return render(
        request,
        "imports/job.html",
        {
            "project": project,
            "job": job,
            "options": options or ImportOptions(),
            "report": report,
            "error": error,
            "schemas": SCHEMAS,
            "rules": cleaning.RULES,
            "forms": chats.FORMS,
            "task": _task_of(session, job),
        },
        status_code=status,
    )


@router.get("/imports/{import_id}", name="import_job")
def import_job(request: Request, session: DbSession, user: ProjectManager, import_id: int):
    """A stored upload: what was detected, the options, and the result when it ran."""
    job = imports.job_of(session=session, job_id=import_id)
    return _job_page(request, session, job)


@router.post("/imports/{import_id}/check", name="import_check")
def import_check(
    request: Request, session: DbSession, user: ProjectManager, import_id: int, form: Form_
):
    """Validate the whole file with these options: the report and a preview of the rows."""
    job = imports.job_of(session=session, job_id=import_id)
    options = options_from(form)
    with form_rejection() as rejected:
        schema = imports.check_options(job, options)
        known = Existing(session, job.project_id, schema)
        report = reader.validate(job, options, known=known)
    if rejected:
        return _job_page(
            request, session, job, options=options, error=rejected.error, status=rejected.status
        )
    return _job_page(request, session, job, options=options, report=report)


@router.post("/imports/{import_id}/run", name="import_run")
def import_run(
    request: Request, session: DbSession, user: ProjectManager, import_id: int, form: Form_
):
    """Start the import in the background; the page then shows its progress."""
    job = imports.job_of(session=session, job_id=import_id)
    options = options_from(form)
    with form_rejection() as rejected:
        task.start(session=session, job=job, options=options, actor=user)
    if rejected:
        return _job_page(
            request, session, job, options=options, error=rejected.error, status=rejected.status
        )
    return redirect(request, request.app.url_path_for("import_job", import_id=job.id))


@router.get("/imports/{import_id}/progress", name="import_progress")
def import_progress(request: Request, session: DbSession, user: ProjectManager, import_id: int):
    """The progress bar fragment (polled while the import runs)."""
    job = imports.job_of(session=session, job_id=import_id)
    return render(
        request,
        "imports/_progress.html",
        {"job": job, "task": _task_of(session, job)},
    )
