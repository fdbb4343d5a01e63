"""Fine-tune jobs in the browser: launch, watch live, results, compare, data map, send back."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.datastructures import FormData

from app import i18n
from app.auth.deps import Annotator, Manager, ProjectManager, ProjectReviewer
from app.core.protocol import JobParams, Method, Schedule
from app.db import MAX_INTEGER, DbSession
from app.errors import InvalidInput, NotFound
from app.evaluation import results as human
from app.i18n import N_
from app.items.forms import form_data
from app.jobs import (
    artifacts,
    datamap,
    estimate,
    feedback,
    forms,
    groups,
    live,
    memory_fit,
    objective,
    results,
    service,
    start,
)
from app.jobs.generation import view as generation_view
from app.members import access as members
from app.models import ProjectRole
from app.projects import service as projects
from app.web import form_rejection, in_reader_language, redirect, render

router = APIRouter()
Form_ = Annotated[FormData, Depends(form_data)]
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


@router.get("/jobs", name="jobs")
def job_list(
    request: Request,
    session: DbSession,
    user: Annotator,
    project_id: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str, Query(max_length=16)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
):
    """Recent jobs with their status, data, base model and main figures."""
    within = members.project_ids(session, user=user, at_least="reviewer")
    jobs = service.list_jobs(
        session=session,
        within=within,
        project_id=project_id,
        status=status if status in STATUSES else None,
        base_model=q.strip() or None,
    )
    return render(
        request,
        "jobs/list.html",
        {
            "jobs": jobs,
            "headlines": {j.id: results.headline(j) for j in jobs},
            "preferences": {j.id: results.preference(j) for j in jobs},
            "objectives": objective.OBJECTIVES,
            "best": live.best_eval_losses(session, [j.id for j in jobs]),
            "versions": service.version_names(
                session=session, ids={j.dataset_version_id for j in jobs}
            ),
            "projects": projects.list_projects(session=session, within=within),
            "statuses": STATUSES,
            "can_launch": members.manages_any(session, user=user),
            "filters": {"project_id": project_id or "", "status": status, "q": q},
        },
    )


def _managed(session, user) -> set[int] | None:
    return members.project_ids(session, user=user, at_least="manager")


def _launch_page(
    request, session, user, form: forms.LaunchForm, params=None, *, error=None, status_code=200
):
    within = _managed(session, user)
    choices = service.launch_choices(session=session, within=within)
    return render(
        request,
        "jobs/new.html",
        {
            "form": form,
            "error": error,
            "choices": choices,
            "starts": start.choices(session, artifacts_root=_artifacts(request), within=within),
            "presets": forms.PRESETS,
            "objective_presets": forms.PRESET_LABELS,
            "objectives": objective.OBJECTIVES,
            "hints": forms.HINTS,
            "bounds": forms.BOUNDS,
            "methods": get_args(Method),
            "schedules": get_args(Schedule),
            "summary": _version_summary(request, session, form, params, within),
        },
        status_code=status_code,
    )


def _artifacts(request: Request):
    return request.app.state.settings.resolved_artifacts_dir


def _version_summary(
    request, session, form: forms.LaunchForm, params: JobParams | None, within: set[int] | None
) -> dict | None:
    """The chosen version's splits, what it holds for each objective (and why an objective
    cannot train on it), contamination, a token/step estimate and a memory estimate."""
    if form.version_id is None:
        return None
    version = service.find_version(session=session, version_id=form.version_id, within=within)
    if version is None:
        return None
    held = objective.contents(session, version)
    chosen = params or forms.preset(form.base_model, form.objective)
    refusals = {name: objective.refusal(version, held, name) for name in objective.OBJECTIVES}
    work = estimate.estimate(session, version, chosen, contents=held)
    memory = memory_fit.for_form(session, form, chosen, work, within, request.app.state.settings)
    return {
        "version": version,
        "contents": held,
        "refusals": {name: why for name, why in refusals.items() if why is not None},
        "objective": chosen.objective,
        "estimate": work,
        "memory": memory,
        "approximate": params is None,
    }


@router.get("/jobs/new", name="job_new")
def job_new(
    request: Request,
    session: DbSession,
    user: Manager,
    version_id: Annotated[int | None, Query(ge=1, le=MAX_INTEGER)] = None,
    base_model: Annotated[str, Query(max_length=500)] = "tiny",
    preset: Annotated[str, Query(max_length=32)] = "",
    start_job_id: Annotated[int | None, Query(ge=1, le=MAX_INTEGER)] = None,
):
    """The launch form, with the preset of the chosen base model (and objective); from a
    finished job, continuing from its model on its base model and version."""
    within = _managed(session, user)
    parent = service.find_job(session=session, job_id=start_job_id, within=within)
    if parent is not None:
        base_model = parent.base_model
        version_id = version_id or parent.dataset_version_id
    preset = preset if preset in forms.OBJECTIVE_PRESETS else ""
    form = forms.LaunchForm(
        version_id=version_id,
        base_model=base_model,
        start_job_id=parent.id if parent else None,
        values=forms.defaults(base_model, preset or None),
    )
    return _launch_page(request, session, user, form)


@router.post("/jobs/estimate", name="job_estimate")
def job_estimate(request: Request, session: DbSession, user: Manager, form: Form_):
    """The version summary and estimate for the form as it stands (htmx, on every change),
    with the objective's note swapped in beside the objective's choice."""
    state, params = forms.parse(form)
    return render(
        request,
        "jobs/_estimate.html",
        {
            "summary": _version_summary(request, session, state, params, _managed(session, user)),
            "form": state,
            "oob": True,
            "objectives": objective.OBJECTIVES,
        },
    )


@router.post("/jobs", name="job_launch")
def job_launch(request: Request, session: DbSession, user: Manager, form: Form_):
    """Queue a job; bad fields come back inline and nothing typed is lost."""
    state, params = forms.parse(form)
    error = None
    if params is not None:
        with form_rejection() as rejected:
            job = service.launch(
                session=session,
                version_id=state.version_id,
                # A continued job trains on its parent's base model (the field is read-only).
                base_model=None if state.start_job_id else state.base_model,
                params=params,
                actor=user,
                start_job_id=state.start_job_id,
                artifacts_root=_artifacts(request),
                model_roots=request.app.state.settings.model_roots,
                within=_managed(session, user),
            )
        if not rejected:
            return redirect(
                request,
                request.app.url_path_for("job", job_id=job.id),
                toast=("success", N_("Job queued.")),
            )
        if isinstance(rejected.error, objective.Refusal):
            error = rejected.error  # a sentence of its own, and its field marked
            state.errors[rejected.error.field] = N_("Invalid.")
        else:
            state.errors.update(rejected.errors or {"base_model": rejected.error.message})
    return _launch_page(request, session, user, state, params, error=error, status_code=422)


@router.get("/jobs/compare", name="jobs_compare")
def jobs_compare(
    request: Request,
    session: DbSession,
    user: Annotator,
    ids: Annotated[list[int], Query(max_length=8)] = [],  # noqa: B006 - FastAPI reads it
):
    """Two or more jobs: their figures in one table and their curves overlaid."""
    within = members.project_ids(session, user=user, at_least="reviewer")
    jobs = [service.get_job(session=session, job_id=i) for i in dict.fromkeys(ids)]
    if any(within is not None and j.project_id not in within for j in jobs):
        raise NotFound(N_("Not found."))
    if len(jobs) < 2:
        raise InvalidInput(N_("Choose at least two jobs to compare."))
    return render(
        request,
        "jobs/compare.html",
        {
            "jobs": jobs,
            "tables": {j.id: results.table(results.predictions_of(session, j.id)) for j in jobs},
            "headlines": {j.id: results.headline(j) for j in jobs},
            "preferences": {j.id: results.preference(j) for j in jobs},
            "objectives": objective.OBJECTIVES,
            "series": live.overlay(session, jobs),
            "scores": results.SCORES,
        },
    )


@router.get("/jobs/{job_id}", name="job")
def job_detail(request: Request, session: DbSession, user: ProjectReviewer, job_id: int):
    """One job, live while it runs: progress, curves or drafts, log tail, cancel and retry."""
    job = service.get_job(session=session, job_id=job_id)
    if job.kind == "generate":
        return render(request, "jobs/generation.html", generation_view.context(session, job))
    return render(request, "jobs/detail.html", live.context(session, job))


@router.get("/jobs/{job_id}/live", name="job_live")
def job_live(request: Request, session: DbSession, user: ProjectReviewer, job_id: int):
    """The live part of the job page (polled by htmx while the job is queued or running)."""
    job = service.get_job(session=session, job_id=job_id)
    if job.kind == "generate":
        return render(request, "jobs/_generation_live.html", generation_view.context(session, job))
    return render(request, "jobs/_live.html", live.context(session, job))


@router.post("/jobs/{job_id}/cancel", name="job_cancel")
def job_cancel(request: Request, session: DbSession, user: ProjectManager, job_id: int):
    """Cancel a queued job, or ask the worker of a running one to stop."""
    service.cancel(session=session, job_id=job_id, actor=user)
    return redirect(
        request,
        request.app.url_path_for("job", job_id=job_id),
        toast=("success", N_("Cancellation requested.")),
    )


@router.post("/jobs/{job_id}/retry", name="job_retry")
def job_retry(request: Request, session: DbSession, user: ProjectManager, job_id: int):
    """A new job with the same parameters, linked to this one."""
    job = service.retry(
        session=session,
        job_id=job_id,
        actor=user,
        model_roots=request.app.state.settings.model_roots,
        artifacts_root=_artifacts(request),
    )
    return redirect(
        request,
        request.app.url_path_for("job", job_id=job.id),
        toast=("success", N_("Retry queued as job %(id)s."), {"id": job.id}),
    )


@router.get("/jobs/{job_id}/results", name="job_results")
def job_results(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    job_id: int,
    show: Annotated[str, Query(max_length=16)] = "",
    kind: Annotated[str, Query(max_length=16)] = "",
    sort: Annotated[str, Query(max_length=16)] = "item",
):
    """Metrics overall and per kind, language and domain; every eval item base / tuned."""
    job = service.get_job(session=session, job_id=job_id)
    predictions = results.predictions_of(session, job.id)
    found = groups.breakdown(session, version_id=job.dataset_version_id, predictions=predictions)
    rows = results.select_predictions(
        predictions,
        show=show if show in results.FILTERS else "",
        kind=kind,
        sort=sort if sort in results.SORTS else "item",
    )
    return render(
        request,
        "jobs/results.html",
        {
            "job": job,
            "breakdown": found,
            "fell_sentences": groups.FELL_SENTENCES,
            "headline": results.headline(job),
            "preference": results.preference(job),
            "seen": results.seen_section(session, job),
            "rows": rows,
            "total": len(predictions),
            "marks": results.constraint_marks(session, job.dataset_version_id, rows),
            "scores": results.SCORES,
            "filters": results.FILTERS,
            "sorts": results.SORTS,
            "kinds": sorted({p.kind for p in predictions}),
            "params": {"show": show, "kind": kind, "sort": sort},
            "card": artifacts.model_card_html(request.app.state.settings, job),
            "has_model": artifacts.model_dir(request.app.state.settings, job) is not None,
            "verdicts": human.job_verdicts(session, job=job),
            "open_rounds": human.open_rounds_on(session, job=job),
            "manages": members.role_in(session, user=user, project_id=job.project_id)
            == ProjectRole.manager,
        },
    )


@router.get("/jobs/{job_id}/datamap", name="job_datamap")
def job_datamap(request: Request, session: DbSession, user: ProjectReviewer, job_id: int):
    """Confidence against variability for each training item, and the hardest items."""
    job = service.get_job(session=session, job_id=job_id)
    data = datamap.for_job(session, job.id)
    hardest = data.hardest(50)
    return render(
        request,
        "jobs/datamap.html",
        {
            "job": job,
            "map": data,
            "hardest": hardest,
            "snapshots": results.snapshots_of(
                session, job.dataset_version_id, [p.item_id for p in hardest]
            ),
        },
    )


@router.post("/jobs/{job_id}/send-back", name="job_send_back")
def job_send_back(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    job_id: int,
    item_ids: Annotated[list[int] | None, Form()] = None,
    comment: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=500)] = "",
):
    """Reopen the chosen items for review, flagged by training, linked to this job."""
    outcome = feedback.send_back(
        session=session, job_id=job_id, item_ids=item_ids or [], actor=user, comment=comment
    )
    target = back if back.startswith(f"/jobs/{job_id}") else f"/jobs/{job_id}/datamap"
    with in_reader_language(request):
        sent, skipped = len(outcome.reopened), len(outcome.skipped)
        text = i18n.ngettext(
            "%(count)s item sent back to review.",
            "%(count)s items sent back to review.",
            sent,
            count=sent,
        )
        if skipped:
            text += " " + i18n.ngettext(
                "%(skipped)s was not approved and was left as it is.",
                "%(skipped)s were not approved and were left as they are.",
                skipped,
                skipped=skipped,
            )
    return redirect(request, target, toast=("error" if skipped else "success", text))


@router.get("/jobs/{job_id}/artifacts/{artifact}", name="job_artifact")
def job_artifact(
    request: Request, session: DbSession, user: ProjectReviewer, job_id: int, artifact: str
):
    """The trained adapter (or model) as a zip, or its model card."""
    job = service.get_job(session=session, job_id=job_id)
    return artifacts.download(request.app.state.settings, job, artifact)
