"""Dataset versions in the browser: freeze, inspect (stats, contamination, preview), diff."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request

from app import i18n
from app.auth.deps import ProjectManager, ProjectReviewer
from app.background import queue
from app.core.provenance import Origin
from app.datasets import task, versions
from app.datasets.versions import VersionFilter
from app.db import MAX_INTEGER, DbSession
from app.i18n import N_
from app.items import repository
from app.projects import service as projects
from app.web import form_rejection, in_reader_language, redirect, render

router = APIRouter()


def _list_page(request, session, project, *, form=None, error=None, status=200):
    return render(
        request,
        "datasets/list.html",
        {
            "project": project,
            "versions": versions.list_versions(session=session, project_id=project.id),
            "domains": repository.domains(session, project.id),
            "freezing": [
                t for t in queue.of_project(session, project.id, limit=10) if t.kind == task.KIND
            ],
            "form": form or {},
            "error": error,
        },
        status_code=status,
    )


@router.get("/projects/{project_id}/datasets", name="datasets")
def dataset_list(request: Request, session: DbSession, user: ProjectReviewer, project_id: int):
    """The project's dataset versions, and the form to freeze a new one."""
    project = projects.get_project(session=session, project_id=project_id)
    return _list_page(request, session, project)


@router.post("/projects/{project_id}/datasets", name="dataset_create")
def dataset_create(
    request: Request,
    session: DbSession,
    user: ProjectManager,
    project_id: int,
    name: Annotated[str, Form(max_length=200)] = "",
    statuses: Annotated[list[str] | None, Form()] = None,
    kinds: Annotated[list[str] | None, Form()] = None,
    domains: Annotated[list[str] | None, Form()] = None,
    languages: Annotated[list[str] | None, Form()] = None,
    origins: Annotated[list[Origin] | None, Form()] = None,
    drafted: Annotated[Literal["", "yes", "no"], Form()] = "",
    tags: Annotated[str, Form(max_length=500)] = "",
    eval_fraction: Annotated[float, Form()] = 0.1,
    seed: Annotated[int, Form(ge=0, le=MAX_INTEGER)] = 13,
    license: Annotated[str, Form(max_length=100)] = "",
):
    """Queue the freeze of the matching items into a new version; the task page shows it."""
    project = projects.get_project(session=session, project_id=project_id)
    f = VersionFilter(
        statuses=statuses or ["approved"],
        kinds=kinds or [],
        domains=domains or [],
        languages=languages or [],
        origins=origins or [],
        drafted=drafted,
        tags=[t.strip() for t in tags.split(",") if t.strip()],
    )
    with form_rejection() as rejected:
        queued = task.start(
            session=session,
            project=project,
            name=name,
            f=f,
            actor=user,
            seed=seed,
            eval_fraction=eval_fraction,
            license=license,
        )
    if rejected:
        form = {"name": name, "eval_fraction": eval_fraction, "seed": seed, "license": license}
        return _list_page(
            request, session, project, form=form, error=rejected.error, status=rejected.status
        )
    return redirect(
        request,
        request.app.url_path_for("task", task_id=queued.id),
        toast=("success", N_("Freezing the dataset version in the background.")),
    )


@router.get("/datasets/{version_id}", name="dataset")
def dataset_detail(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    version_id: int,
    other: Annotated[int | None, Query(ge=1, le=MAX_INTEGER)] = None,
):
    """A version's statistics, contamination check, preview and exports."""
    version = versions.get_version(session=session, version_id=version_id)
    project = projects.get_project(session=session, project_id=version.project_id)
    preview = []
    for link, revision in versions.pinned(session, version.id):
        preview.append((link, revision))
        if len(preview) >= 5:
            break
    siblings = [
        v
        for v in versions.list_versions(session=session, project_id=project.id)
        if v.id != version.id
    ]
    comparison = versions.diff(session, other, version.id) if other else None
    from app.datasets.export import FORMAT_NAMES

    return render(
        request,
        "datasets/detail.html",
        {
            "project": project,
            "version": version,
            "preview": preview,
            "siblings": siblings,
            "comparison": comparison,
            "other": other,
            "export_formats": FORMAT_NAMES.items(),
        },
    )


@router.get("/datasets/{version_id}/export", name="dataset_export")
def dataset_export(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    version_id: int,
    format: Annotated[str, Query(max_length=20)] = "alpaca_jsonl",
):
    """Download a version as a zip: README.md (the dataset card) and one file per split."""
    from fastapi.responses import StreamingResponse

    from app.datasets import export

    version = versions.get_version(session=session, version_id=version_id)
    export.check_format(format)
    name = f"dataset-{version.id}-{format}.zip"
    return StreamingResponse(
        export.stream_zip(request.app.state.open_session, version.id, format),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/projects/{project_id}/duplicates", name="duplicates")
def duplicates_page(request: Request, session: DbSession, user: ProjectReviewer, project_id: int):
    """Exact and near-duplicate clusters, each with a keep-one action."""
    from app.datasets import duplicates

    project = projects.get_project(session=session, project_id=project_id)
    return render(
        request,
        "datasets/duplicates.html",
        {
            "project": project,
            "exact": duplicates.exact_clusters(session, project.id),
            "near": duplicates.near_clusters(session, project.id),
        },
    )


@router.post("/projects/{project_id}/duplicates/resolve", name="duplicates_resolve")
def duplicates_resolve(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    project_id: int,
    keep: Annotated[int, Form()],
    members: Annotated[list[int], Form()],
):
    """Keep the chosen item and reject the rest of its cluster as duplicates."""
    from app.datasets import duplicates

    done = duplicates.resolve(
        session=session,
        project_id=project_id,
        keep=keep,
        reject=[m for m in members if m != keep],
        actor=user,
    )
    with in_reader_language(request):
        text = i18n.ngettext(
            "%(count)s duplicate rejected.", "%(count)s duplicates rejected.", done, count=done
        )
    return redirect(
        request,
        request.app.url_path_for("duplicates", project_id=project_id),
        toast=("success", text),
    )
