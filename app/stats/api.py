"""JSON API for a project's dashboard figures."""

from __future__ import annotations

from fastapi import APIRouter

from app.apidoc import ERRORS, PathId
from app.auth.deps import ProjectReviewer
from app.datasets import statistics
from app.db import DbSession
from app.stats import service
from app.stats.schemas import (
    AnnotatorOut,
    ContentOut,
    ProjectStatsOut,
    ReviewerOut,
    ThroughputOut,
)

router = APIRouter(prefix="/api/v1", tags=["statistics"], responses=ERRORS)


@router.get(
    "/projects/{project_id}/stats", response_model=ProjectStatsOut, name="api_project_stats"
)
def project_stats(project_id: PathId, session: DbSession, user: ProjectReviewer) -> ProjectStatsOut:
    """Items by status, daily throughput, each annotator's and reviewer's record and the
    content figures: what the statistics page shows."""
    return ProjectStatsOut(
        by_status=service.by_status(session=session, project_id=project_id),
        throughput=ThroughputOut.model_validate(
            service.throughput(session=session, project_id=project_id)
        ),
        annotators=[
            AnnotatorOut.of(a) for a in service.annotators(session=session, project_id=project_id)
        ],
        reviewers=[
            ReviewerOut.of(r) for r in service.reviewers(session=session, project_id=project_id)
        ],
        content=ContentOut.of(statistics.project_stats(session, project_id)),
    )
