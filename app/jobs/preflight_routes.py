"""The launch form's pre-flight check in the browser: "Check before launching" posts the form
(htmx) and gets a panel that polls until a worker has answered, then shows one training
example token by token with the tokens that carry the loss highlighted, the encoding counts,
the device with the memory it used, and how long the job's steps take there."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.apidoc import PathId
from app.auth.deps import Manager
from app.config import Settings
from app.core import architecture, memory
from app.core.devices import describe
from app.core.preflight import PreflightReport
from app.core.protocol import JobParams
from app.db import DbSession
from app.i18n import N_
from app.items.forms import form_data
from app.jobs import estimate, forms, memory_fit, objective, preflight
from app.jobs.model_config import base_config
from app.members import access as members
from app.models import DatasetVersion, Preflight
from app.models import Worker as WorkerRow
from app.web import form_rejection, render, wants_fragment

router = APIRouter()
Form_ = Annotated[FormData, Depends(form_data)]
# The sentences the app itself fails a check with (N_ ids), shown in the reader's language
# with ``label``; a worker's sentence is shown as written.
OWN_ERRORS = {
    error: error for error in (preflight.STOPPED, preflight.NOT_TAKEN, preflight.REPLACED)
}
# Whitespace made visible in the example: a space, a tab, and a line end (which still breaks).
VISIBLE = {" ": "·", "\t": "→", "\r": "␍", "\n": "↵\n"}


def visible(text: str) -> str:
    """A token's text with its whitespace shown (the template escapes it)."""
    return "".join(VISIBLE.get(c, c) for c in text)


def _managed(session, user) -> set[int] | None:
    return members.project_ids(session, user=user, at_least="manager")


def memory_need(
    session: Session, row: Preflight, report: PreflightReport, settings: Settings
) -> int | None:
    """The app's memory estimate (``app.core.memory``) of the check's settings on the device
    it ran on, at the job's largest micro-batch; None where the estimate has none."""
    config = base_config(row.base_model, model_roots=settings.model_roots)
    version = session.get(DatasetVersion, row.dataset_version_id)
    if config is None or version is None:
        return None
    try:
        arch = architecture.from_config(config)
    except architecture.UnknownArchitecture:
        return None
    params = JobParams(**row.params)
    work = estimate.estimate(session, version, params)
    device = report.device
    bf16 = memory_fit.computes_in_bf16(params, WorkerRow(device=device.kind, bf16=device.bf16))
    shape = memory.MicroBatch(*work.micro_batch)
    return memory.estimate(arch, params, shape, bf16=bf16).total


def panel_context(request: Request, session: Session, row: Preflight) -> dict:
    """What ``jobs/_preflight.html`` shows of ``row``."""
    report = PreflightReport.model_validate(row.report) if row.status == "succeeded" else None
    context = {
        "row": row,
        "report": report,
        "active": row.status in ("queued", "running"),
        "waiting_long": preflight.waiting_long(row),
        "own_errors": OWN_ERRORS,
        "size": memory_fit.size,
    }
    if report is not None:
        context.update(
            tokens=[(visible(t.text), t) for t in report.example.tokens],
            device=describe(report.device),
            need=memory_need(session, row, report, request.app.state.settings),
            objectives=objective.OBJECTIVES,
        )
    return context


@router.post("/jobs/preflights", name="job_preflight_new")
def preflight_new(request: Request, session: DbSession, user: Manager, form: Form_):
    """Check the launch form's settings on a worker (htmx): the panel, which polls until the
    check is done; bad fields answer as launching them would, nothing checked."""
    state, params = forms.parse(form)
    error = None
    if params is not None:
        settings = request.app.state.settings
        with form_rejection() as rejected:
            row = preflight.create(
                session=session,
                version_id=state.version_id,
                # A continued job trains on its parent's base model (the field is read-only).
                base_model=None if state.start_job_id else state.base_model,
                params=params,
                actor=user,
                start_job_id=state.start_job_id,
                artifacts_root=settings.resolved_artifacts_dir,
                model_roots=settings.model_roots,
                within=_managed(session, user),
            )
        if not rejected:
            return render(
                request,
                "jobs/_preflight.html",
                panel_context(request, session, row),
                status_code=202,
            )
        # As the launch marks them (app.jobs.routes.job_launch).
        if isinstance(rejected.error, objective.Refusal):
            error = rejected.error
            state.errors[rejected.error.field] = N_("Invalid.")
        else:
            state.errors.update(rejected.errors or {"base_model": rejected.error.message})
    return render(request, "jobs/_preflight.html", {"form": state, "error": error}, status_code=422)


@router.get("/jobs/preflights/{preflight_id}", name="job_preflight")
def preflight_panel(request: Request, session: DbSession, user: Manager, preflight_id: PathId):
    """A check as it stands: the panel alone for htmx's polling, else a page around it."""
    row = preflight.get(session=session, preflight_id=preflight_id, within=_managed(session, user))
    context = panel_context(request, session, row)
    if wants_fragment(request):
        return render(request, "jobs/_preflight.html", context)
    return render(request, "jobs/preflight.html", context)
