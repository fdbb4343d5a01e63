"""Try the model in the browser (``trying``): a finished fine-tune's page to type a prompt (or
pick an item) and read the tuned and the starting model's answers side by side. Ctrl+Enter
asks; the answer panel polls until the worker has answered, showing the queue meanwhile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from app.auth.deps import ProjectReviewer
from app.db import DbSession
from app.errors import InvalidInput
from app.i18n import N_
from app.items.forms import form_data
from app.jobs import live
from app.jobs.generation import trying
from app.jobs.generation.numbers import whole
from app.jobs.service import get_job
from app.web import form_rejection, is_htmx, redirect, render

router = APIRouter()
Form_ = Annotated[FormData, Depends(form_data)]


def _answer(session, job, found):
    queued, running = trying.ahead(session, found)
    return {
        "job": job,
        "try": found,
        "answers": (found.metrics or {}).get("answers") or {},
        "prompt": (found.generation or {}).get("messages") or [],
        "active": found.status in live.ACTIVE,
        "ahead": queued,
        "running": running,
    }


def _page(request, session, job, *, values=None, errors=None, error=None, status=200):
    return render(
        request,
        "jobs/try.html",
        {
            "job": job,
            "tries": [_answer(session, job, t) for t in trying.tries(session, job.id)],
            "values": values or {},
            "errors": errors or {},
            "error": error,
            "ready": job.kind == "finetune" and job.status == "succeeded",
        },
        status_code=status,
    )


@router.get("/jobs/{job_id}/try", name="job_try")
def job_try(request: Request, session: DbSession, user: ProjectReviewer, job_id: int):
    """Type a prompt or pick an item; the tuned and the starting model answer side by side."""
    return _page(request, session, get_job(session=session, job_id=job_id))


@router.post("/jobs/{job_id}/try", name="job_try_ask")
def job_try_ask(
    request: Request, session: DbSession, user: ProjectReviewer, job_id: int, form: Form_
):
    """Queue a try; the answer panel comes back (htmx) or the page with it."""
    job = get_job(session=session, job_id=job_id)
    values = {k: str(form.get(k) or "").strip() for k in ("prompt", "item_id", "max_new_tokens")}
    item, tokens = values["item_id"], values["max_new_tokens"]
    with form_rejection() as rejected:
        if item and whole(item) is None or tokens and whole(tokens) is None:
            raise InvalidInput(N_("The item and the length are whole numbers."))
        found = trying.ask(
            session=session,
            job_id=job.id,
            actor=user,
            prompt=values["prompt"],
            item_id=whole(item) if item else None,
            max_new_tokens=max(1, min(whole(tokens), 1024)) if tokens else 128,
            artifacts_root=request.app.state.settings.resolved_artifacts_dir,
        )
    if rejected and is_htmx(request):
        # The sentence goes above the form, not among the answers the form adds to.
        response = render(
            request, "jobs/_try_error.html", {"error": rejected.error}, status_code=rejected.status
        )
        response.headers["HX-Retarget"] = "#try-feedback"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    if rejected:
        return _page(
            request, session, job, values=values, errors=rejected.errors or {},
            error=rejected.error, status=rejected.status,
        )  # fmt: skip
    if is_htmx(request):
        context = _answer(session, job, found) | {"clear_feedback": True}
        return render(request, "jobs/_try_answer.html", context)
    return redirect(request, request.app.url_path_for("job_try", job_id=job.id))


@router.get("/jobs/{job_id}/try/{try_id}", name="job_try_answer")
def job_try_answer(
    request: Request,
    session: DbSession,
    user: ProjectReviewer,
    job_id: int,
    try_id: int,
):
    """One try's answers (polled by the page until they arrive)."""
    job = get_job(session=session, job_id=job_id)
    found = trying.get_try(session, job.id, try_id)
    return render(request, "jobs/_try_answer.html", _answer(session, job, found))
