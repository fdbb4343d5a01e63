"""The project dashboard: items by status, throughput, annotators and reviewers."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.auth.deps import ProjectReviewer
from app.core.status import REASONS
from app.datasets import statistics
from app.db import DbSession
from app.projects import service as projects
from app.stats import service
from app.web import render

router = APIRouter()


@router.get("/projects/{project_id}/stats", name="project_stats")
def project_stats(request: Request, session: DbSession, user: ProjectReviewer, project_id: int):
    """Charts and tables of how work flows through the project."""
    project = projects.get_project(session=session, project_id=project_id)
    return render(
        request,
        "stats/project.html",
        {
            "project": project,
            "reasons": REASONS,
            "by_status": service.by_status(session=session, project_id=project.id),
            "throughput": service.throughput(session=session, project_id=project.id),
            "annotators": service.annotators(session=session, project_id=project.id),
            "reviewers": service.reviewers(session=session, project_id=project.id),
            "content": statistics.project_stats(session, project.id),
        },
    )
