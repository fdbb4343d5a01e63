"""Generation jobs in the browser: the launch form of a project (reached from the item list
with its filter, or with the items chosen there) and the job's own page, live while it runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.auth.deps import ProjectManager
from app.core import generation
from app.core.generation import GenerationSpec
from app.db import DbSession
from app.i18n import N_
from app.items import repository
from app.items.bulk_task import FILTER_FIELDS
from app.items.forms import form_data
from app.items.repository import ItemFilter
from app.jobs import start
from app.jobs.generation import launch, try_routes
from app.jobs.generation.numbers import whole
from app.members import access as members
from app.projects import service as projects
from app.web import form_rejection, redirect, render

router = APIRouter()
router.include_router(try_routes.router)  # trying a finished job's model
Form_ = Annotated[FormData, Depends(form_data)]
SETTINGS = (
    "max_new_tokens",
    "temperature",
    "top_p",
    "seed",
    "batch_size",
    "rounds",
    "prompts_per_round",
    "few_shot",
)
# How many matching items the form counts before it says "more than".
COUNT_UP_TO = generation.MAX_INPUTS


def _filter_of(project_id: int, values: Any) -> tuple[ItemFilter, dict[str, str]]:
    """The item list's filter carried by query or form fields (and chosen ``item_ids``)."""
    kept = {
        p: str(values.get(p)).strip() for p in FILTER_FIELDS if str(values.get(p) or "").strip()
    }
    fields: dict[str, Any] = {}
    for param, name in FILTER_FIELDS.items():
        if param in kept and name not in ("created_from", "created_to"):
            fields[name] = kept[param]
    for name in ("author_id", "difficulty"):
        if name in fields:
            fields[name] = whole(fields[name])
    ids = values.getlist("item_ids") if hasattr(values, "getlist") else []
    item_ids = tuple(n for n in (whole(i) for i in ids) if n is not None)
    return ItemFilter(project_id=project_id, **fields, item_ids=item_ids), kept


def _page(request, session, user, project_id, *, task, values, errors=None, error=None, status=200):
    project = projects.get_project(session=session, project_id=project_id)
    f, kept = _filter_of(project_id, values)
    counts = {
        name: repository.count_matching(session, f, *launch.eligible(name), cap=COUNT_UP_TO + 1)
        for name in generation.TASKS
    }
    defaults = GenerationSpec(task=task).model_dump()
    within = members.project_ids(session, user=user, at_least="manager")
    return render(
        request,
        "jobs/generate.html",
        {
            "project": project,
            "task": task,
            "tasks": {name: generation.TASK_LABELS[name] for name in generation.TASKS},
            "counts": counts,
            "count_cap": COUNT_UP_TO,
            "filter": kept,
            "item_ids": f.item_ids,
            "values": {**defaults, **{k: values.get(k) for k in SETTINGS if values.get(k)}},
            "answer": bool(values.get("answer")),
            "base_model": values.get("base_model", "tiny"),
            "start_job_id": values.get("start_job_id", ""),
            "starts": [
                c
                for c in start.choices(session, artifacts_root=_artifacts(request), within=within)
                if c.project_id == project_id
            ],
            "errors": errors or {},
            "error": error,
        },
        status_code=status,
    )


def _artifacts(request: Request):
    return request.app.state.settings.resolved_artifacts_dir


@router.get("/projects/{project_id}/generate", name="generation_new")
def generation_new(
    request: Request,
    session: DbSession,
    user: ProjectManager,
    project_id: int,
    task: Annotated[str, Query(max_length=32)] = "draft",
):
    """The form that launches a generation job over the item list's filter or chosen items."""
    task = task if task in generation.TASKS else "draft"
    return _page(request, session, user, project_id, task=task, values=request.query_params)


@router.post("/projects/{project_id}/generate", name="generation_launch")
def generation_launch(
    request: Request, session: DbSession, user: ProjectManager, project_id: int, form: Form_
):
    """Queue a generation job; bad fields come back inline and nothing typed is lost."""
    task = str(form.get("task") or "")
    raw = {k: form.get(k) for k in SETTINGS if str(form.get(k) or "").strip()}
    try:
        spec = GenerationSpec(task=task, answer=bool(form.get("answer")), **raw)
    except ValidationError as invalid:
        errors = {str(e["loc"][0]) if e["loc"] else "task": e["msg"] for e in invalid.errors()}
        return _page(
            request, session, user, project_id, task=task if task in generation.TASKS else "draft",
            values=form, errors=errors, status=422,
        )  # fmt: skip
    f, _ = _filter_of(project_id, form)
    start_job = str(form.get("start_job_id") or "")
    with form_rejection() as rejected:
        job = launch.launch(
            session=session,
            project_id=project_id,
            spec=spec,
            base_model=None if start_job else str(form.get("base_model") or ""),
            actor=user,
            item_filter=f,
            start_job_id=whole(start_job),
            artifacts_root=_artifacts(request),
            model_roots=request.app.state.settings.model_roots,
            within=members.project_ids(session, user=user, at_least="manager"),
        )
    if not rejected:
        return redirect(
            request,
            request.app.url_path_for("job", job_id=job.id),
            toast=("success", N_("Generation job queued.")),
        )
    return _page(
        request, session, user, project_id, task=task, values=form,
        errors=rejected.errors or {}, error=rejected.error, status=rejected.status,
    )  # fmt: skip
