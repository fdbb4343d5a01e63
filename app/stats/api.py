"""JSON API for a project's dashboard figures and the balance reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app import i18n
from app.apidoc import ERRORS, PathId
from app.auth.deps import Member, ProjectReviewer
from app.datasets import statistics, versions
from app.db import DbSession
from app.stats import balance_queries, service
from app.stats.balance import Thresholds
from app.stats.balance_queries import Scope
from app.stats.balance_schemas import BalanceOut
from app.stats.balance_view import BalanceLinks
from app.stats.schemas import (
    AnnotatorOut,
    ContentOut,
    ModelWorkOut,
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
        model_work=_model_work(service.model_work(session=session, project_id=project_id)),
    )


def _model_work(work: service.ModelWork) -> ModelWorkOut:
    return ModelWorkOut(**vars(work), drafted_share=work.drafted_share)


ShareQuery = Annotated[
    float | None,
    Query(description="A share from 0 to 1 (min_share at most 0.5); omitted: the default."),
]


def _links(request: Request, project_id: int, member: Member, status: str | None = None):
    return BalanceLinks(
        request.app.url_path_for,
        project_id,
        status=status,
        may_assign=member.at_least("manager"),
    )


@router.get("/projects/{project_id}/balance", response_model=BalanceOut, name="api_project_balance")
def project_balance(
    request: Request,
    project_id: PathId,
    session: DbSession,
    user: ProjectReviewer,
    member: Member,
    min_share: ShareQuery = None,
    max_share: ShareQuery = None,
    scope: Annotated[Scope, Query(description="approved, or not_rejected.")] = "approved",
) -> BalanceOut:
    """The balance report of the project's items: shares, entropy and warnings."""
    thresholds = Thresholds.of(min_share, max_share)
    report = balance_queries.project_report(
        session=session, project_id=project_id, thresholds=thresholds, scope=scope
    )
    links = _links(request, project_id, member, "approved" if scope == "approved" else None)
    with i18n.use_locale("en"):
        return BalanceOut.of(report, links, scope=scope)


@router.get("/datasets/{version_id}/balance", response_model=BalanceOut, name="api_dataset_balance")
def dataset_balance(
    request: Request,
    version_id: PathId,
    session: DbSession,
    user: ProjectReviewer,
    member: Member,
    min_share: ShareQuery = None,
    max_share: ShareQuery = None,
) -> BalanceOut:
    """The balance report of a dataset version's pinned items: shares, entropy and warnings."""
    thresholds = Thresholds.of(min_share, max_share)
    version = versions.get_version(session=session, version_id=version_id)
    report = balance_queries.version_report(session=session, version=version, thresholds=thresholds)
    links = _links(request, version.project_id, member)
    with i18n.use_locale("en"):
        return BalanceOut.of(report, links, version_id=version.id)
