"""Background tasks in the browser: a project's tasks, one task's progress bar, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.auth.deps import ProjectManager, ProjectReviewer
from app.background import queue, service
from app.db import DbSession
from app.i18n import N_
from app.projects import service as projects
from app.web import redirect, render

router = APIRouter()


@router.get("/projects/{project_id}/tasks", name="tasks")
def task_list(request: Request, session: DbSession, user: ProjectReviewer, project_id: int):
    """The project's background tasks, newest first, with their progress."""
    project = projects.get_project(session=session, project_id=project_id)
    return render(
        request,
        "background/list.html",
        {"project": project, "tasks": queue.of_project(session, project.id)},
    )


@router.get("/tasks/{task_id}", name="task")
def task_page(request: Request, session: DbSession, user: ProjectReviewer, task_id: int):
    """One task: its progress bar while it runs, then what it made or why it stopped."""
    task = queue.get(session, task_id)
    project = projects.get_project(session=session, project_id=task.project_id)
    return render(
        request, "background/detail.html", {"project": project, "task": task, "follow": True}
    )


@router.get("/tasks/{task_id}/progress", name="task_progress")
def task_progress(
    request: Request, session: DbSession, user: ProjectReviewer, task_id: int, follow: bool = False
):
    """The progress fragment, polled while the task is queued or running; with ``follow``
    (the task's own page) a finished task leads on to what it made."""
    task = queue.get(session, task_id)
    made = made_by(request, task)
    if follow and made:
        return redirect(request, made)
    return render(request, "background/_task.html", {"task": task, "follow": follow})


def made_by(request: Request, task) -> str | None:
    """The page of what a finished task made: a freeze's version, an import's report."""
    if task.state != "done":
        return None
    if task.result.get("version_id"):
        return request.app.url_path_for("dataset", version_id=task.result["version_id"])
    if task.result.get("import_id"):
        return request.app.url_path_for("import_job", import_id=task.result["import_id"])
    return None


@router.post("/tasks/{task_id}/cancel", name="task_cancel")
def task_cancel(request: Request, session: DbSession, user: ProjectManager, task_id: int):
    """Cancel a queued task now, or ask a running one to stop at its next batch."""
    task = queue.get(session, task_id)
    service.cancel(session=session, task=task, actor=user, kinds=request.app.state.background.kinds)
    return redirect(
        request,
        request.app.url_path_for("task", task_id=task.id),
        toast=("success", N_("Cancelling the task.")),
    )
