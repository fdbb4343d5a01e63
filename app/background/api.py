"""JSON API for background tasks: poll one, list a project's, cancel, retry."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.apidoc import ERRORS, PathId
from app.auth.deps import Member, ProjectAnnotator, ProjectManager, ProjectReviewer
from app.background import queue, service
from app.background.schemas import TaskOut
from app.core.job_paths import API_ROOT
from app.db import DbSession

router = APIRouter(prefix=API_ROOT, tags=["background tasks"], responses=ERRORS)


@router.get("/tasks/{task_id}", response_model=TaskOut, name="api_task")
def get_task(
    task_id: PathId, session: DbSession, user: ProjectAnnotator, member: Member
) -> TaskOut:
    """A task's state and progress (phase, done, total); poll it until ``state`` is done,
    failed or cancelled. Annotators see the tasks they started."""
    return TaskOut.model_validate(service.seen_by(session=session, task_id=task_id, member=member))


@router.get("/projects/{project_id}/tasks", response_model=list[TaskOut], name="api_tasks")
def list_tasks(project_id: PathId, session: DbSession, user: ProjectReviewer) -> list[TaskOut]:
    """The project's 50 latest background tasks, newest first."""
    return [TaskOut.model_validate(t) for t in queue.of_project(session, project_id)]


@router.post("/tasks/{task_id}/cancel", response_model=TaskOut, name="api_task_cancel")
def cancel_task(
    request: Request, task_id: PathId, session: DbSession, user: ProjectAnnotator, member: Member
) -> TaskOut:
    """Cancel a queued task now, or ask a running one to stop at its next batch (409 once
    it has finished); managers, or whoever started the task."""
    task = service.seen_by(session=session, task_id=task_id, member=member)
    service.check_may_cancel(task, member)
    service.cancel(session=session, task=task, actor=user, kinds=request.app.state.background.kinds)
    return TaskOut.model_validate(task)


@router.post(
    "/tasks/{task_id}/retry", response_model=TaskOut, status_code=202, name="api_task_retry"
)
def retry_task(
    request: Request, task_id: PathId, session: DbSession, user: ProjectManager
) -> TaskOut:
    """Queue a failed or cancelled task again (202); it resumes after its last committed batch
    (409 for a task in any other state)."""
    task = queue.get(session, task_id)
    service.retry(session=session, task=task, actor=user, kinds=request.app.state.background.kinds)
    return TaskOut.model_validate(task)
