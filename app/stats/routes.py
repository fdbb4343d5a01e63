"""The project dashboard: items by status, throughput, annotators and reviewers; and the
balance report of a project and of a dataset version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.auth.deps import Member, ProjectReviewer
from app.core.status import REASONS
from app.datasets import statistics, versions
from app.db import DbSession
from app.projects import service as projects
from app.stats import balance_queries, service
from app.stats.balance import Thresholds
from app.stats.balance_queries import Scope
from app.stats.balance_view import (
    ACTION_LABELS,
    SCOPE_LABELS,
    BalanceLinks,
    dimension_text,
    group_text,
    percent,
    warning_text,
)
from app.web import form_rejection, render

router = APIRouter()
Share = Annotated[str, Query(max_length=20, description="A share from 0 to 1; blank: default.")]


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
            "model_work": service.model_work(session=session, project_id=project.id),
        },
    )


@router.get("/projects/{project_id}/balance", name="project_balance")
def project_balance(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    member: Member,
    project_id: int,
    min_share: Share = "",
    max_share: Share = "",
    scope: Annotated[Scope, Query()] = "approved",
):
    """A project's balance: shares, evenness, and warnings with the action each calls for."""
    project = projects.get_project(session=session, project_id=project_id)
    with form_rejection(status=400) as rejected:
        thresholds = Thresholds.of(min_share, max_share)
    report = None
    if not rejected:
        report = balance_queries.project_report(
            session=session, project_id=project.id, thresholds=thresholds, scope=scope
        )
    links = BalanceLinks(
        request.app.url_path_for,
        project.id,
        status="approved" if scope == "approved" else None,
        may_assign=member.at_least("manager"),
    )
    form = {"min_share": min_share, "max_share": max_share, "scope": scope}
    return _page(request, project, None, report, links, form, rejected)


@router.get("/datasets/{version_id}/balance", name="dataset_balance")
def dataset_balance(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    member: Member,
    version_id: int,
    min_share: Share = "",
    max_share: Share = "",
):
    """A dataset version's balance, read from the revisions it pinned."""
    version = versions.get_version(session=session, version_id=version_id)
    project = projects.get_project(session=session, project_id=version.project_id)
    with form_rejection(status=400) as rejected:
        thresholds = Thresholds.of(min_share, max_share)
    report = None
    if not rejected:
        report = balance_queries.version_report(
            session=session, version=version, thresholds=thresholds
        )
    links = BalanceLinks(
        request.app.url_path_for, project.id, may_assign=member.at_least("manager")
    )
    form = {"min_share": min_share, "max_share": max_share}
    return _page(request, project, version, report, links, form, rejected)


def _page(request, project, version, report, links, form, rejected):
    return render(
        request,
        "stats/balance.html",
        {
            "project": project,
            "version": version,
            "report": report,
            "links": links,
            "form": form,
            "error": rejected.error,
            "errors": rejected.errors,
            "scopes": SCOPE_LABELS,
            "action_labels": ACTION_LABELS,
            "group_text": group_text,
            "dimension_text": dimension_text,
            "warning_text": warning_text,
            "percent": percent,
        },
        status_code=rejected.status,
    )
