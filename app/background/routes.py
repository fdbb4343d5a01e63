"""Background tasks in the browser: a project's tasks, one task's progress bar, cancel and
retry."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request

from app import i18n
from app.auth.deps import Member, ProjectAnnotator, ProjectManager, ProjectReviewer
from app.background import queue, service
from app.db import DbSession
from app.i18n import N_
from app.projects import service as projects
from app.web import Toast, in_reader_language, redirect, render

router = APIRouter()


@router.get("/projects/{project_id}/tasks", name="tasks")
def task_list(request: Request, session: DbSession, user: ProjectReviewer, project_id: int):
    """The project's background tasks, newest first, with their progress."""
    project = projects.get_project(session=session, project_id=project_id)
    return render(
        request,
        "background/list.html",
        {
            "project": project,
            "tasks": queue.of_project(session, project.id),
            "retryable": retryable(request),
        },
    )


@router.get("/tasks/{task_id}", name="task")
def task_page(
    request: Request, session: DbSession, user: ProjectAnnotator, member: Member, task_id: int
):
    """One task: its progress bar while it runs, then what it made or why it stopped."""
    task = service.seen_by(session=session, task_id=task_id, member=member)
    project = projects.get_project(session=session, project_id=task.project_id)
    return render(
        request,
        "background/detail.html",
        {"project": project, "task": task, "follow": True, "retryable": retryable(request)},
    )


@router.get("/tasks/{task_id}/progress", name="task_progress")
def task_progress(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    member: Member,
    task_id: int,
    follow: bool = False,
):
    """The progress fragment, polled while the task is queued or running; with ``follow``
    (the task's own page) a finished task leads on to what it made."""
    task = service.seen_by(session=session, task_id=task_id, member=member)
    made = made_by(request, task)
    if follow and made:
        return redirect(request, made, toast=outcome_toast(request, task))
    return render(
        request,
        "background/_task.html",
        {"task": task, "follow": follow, "retryable": retryable(request)},
    )


def retryable(request: Request) -> set[str]:
    """The kinds of task a retry can resume (the page offers Retry for those)."""
    return {name for name, kind in request.app.state.background.kinds.items() if kind.reopen}


def made_by(request: Request, task) -> str | None:
    """The page of what a finished task made: a freeze's version, an import's report, the
    item list (with the filter) that a bulk action went through."""
    if task.state != "done":
        return None
    if task.result.get("version_id"):
        return request.app.url_path_for("dataset", version_id=task.result["version_id"])
    if task.result.get("import_id"):
        return request.app.url_path_for("import_job", import_id=task.result["import_id"])
    if "changed" in task.result:
        items = request.app.url_path_for("items", project_id=task.project_id)
        query = urlencode(task.result.get("filter") or {})
        return f"{items}?{query}" if query else items
    return None


def outcome_toast(request: Request, task) -> Toast | None:
    """What a finished bulk action did, said on the page it leads to."""
    if "changed" not in task.result:
        return None
    with in_reader_language(request):
        text = i18n.ngettext(
            "%(count)s of %(total)s item changed.",
            "%(count)s of %(total)s items changed.",
            task.result["items"],
            count=task.result["changed"],
            total=task.result["items"],
        )
    return ("success", text)


@router.post("/tasks/{task_id}/cancel", name="task_cancel")
def task_cancel(
    request: Request, session: DbSession, user: ProjectAnnotator, member: Member, task_id: int
):
    """Cancel a queued task now, or ask a running one to stop at its next batch (managers, or
    whoever started the task)."""
    task = service.seen_by(session=session, task_id=task_id, member=member)
    service.check_may_cancel(task, member)
    service.cancel(session=session, task=task, actor=user, kinds=request.app.state.background.kinds)
    return redirect(
        request,
        request.app.url_path_for("task", task_id=task.id),
        toast=("success", N_("Cancelling the task.")),
    )


@router.post("/tasks/{task_id}/retry", name="task_retry")
def task_retry(request: Request, session: DbSession, user: ProjectManager, task_id: int):
    """Queue a failed or cancelled task again, to resume after its last committed batch."""
    task = queue.get(session, task_id)
    service.retry(session=session, task=task, actor=user, kinds=request.app.state.background.kinds)
    return redirect(
        request,
        request.app.url_path_for("task", task_id=task.id),
        toast=("success", N_("Retrying the task.")),
    )
