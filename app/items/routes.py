"""The item editor (htmx), live checks, and the item list with search and bulk actions."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from pydantic import BeforeValidator, Field
from starlette.datastructures import FormData

from app.auth.deps import Annotator, Member, ProjectAnnotator
from app.core import constraints as registry
from app.core import status as machine
from app.core.kinds import ItemKind
from app.core.provenance import Origin
from app.db import DbSession
from app.errors import Conflict, InvalidInput, TooLarge
from app.evaluation import rounds
from app.i18n import N_
from app.imports import indexer
from app.items import bulk_routes, checks, forms, repository, service
from app.items.forms import EditorState
from app.items.lengths import ContentLimits
from app.items.repository import Drafted
from app.members import access as members
from app.models import Item, Project
from app.projects import service as projects
from app.web import form_rejection, is_htmx, redirect, render, toast_trigger

router = APIRouter()
Form_ = Annotated[FormData, Depends(forms.form_data)]
KINDS = tuple(kind.value for kind in ItemKind)
# The filter form sends its "any" choices as empty values: no filter, not a bad number or date.
Blank = BeforeValidator(lambda value: None if value == "" else value)


def _editor(
    request,
    *,
    project: Project,
    state: EditorState,
    item: Item | None = None,
    errors=None,
    error=None,
    conflict=None,
    status=200,
    session=None,
):
    sent_back = None
    if item is not None and session is not None and item.status == "changes_requested":
        sent_back = repository.latest_change_request(session, item.id)
    blind = (
        item is not None
        and session is not None
        and rounds.blinds_provenance(session, item=item, user=getattr(request.state, "user", None))
    )
    return render(
        request,
        "items/editor.html",
        {
            "project": project,
            "item": item,
            "sent_back": sent_back,
            "blind_provenance": blind,
            "reasons": machine.REASONS,
            "state": state,
            "errors": forms.placed_errors(state, errors or {}),
            "error": error,
            "conflict": conflict,
            "registry": registry.REGISTRY,
            "param_fields": registry.param_fields,
        },
        status_code=status,
    )


def _limits(request: Request) -> ContentLimits:
    return ContentLimits.of(request.app.state.settings)


def _form_status(rejected) -> int:
    # An over-long text re-renders the form like any invalid field (htmx swaps 422, not 413).
    return 422 if isinstance(rejected.error, TooLarge) else rejected.status


@router.get("/projects/{project_id}/items/new", name="item_new")
def new_item(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    project_id: int,
    kind: Annotated[str, Query(pattern=f"^({'|'.join(KINDS)})$")] = "task",
    prompt: Annotated[str, Query(pattern=f"^({'|'.join(forms.PROMPT_FORMS)})$")] = "single",
):
    """An empty editor for one kind (a pair's prompt in one of its forms)."""
    project = projects.get_project(session=session, project_id=project_id)
    return _editor(request, project=project, state=forms.blank_state(kind, prompt))


@router.post("/projects/{project_id}/items", name="item_create")
def create_item(
    request: Request, session: DbSession, user: ProjectAnnotator, project_id: int, form: Form_
):
    """Save a new item as a draft, or submit it (action=submit)."""
    project = projects.get_project(session=session, project_id=project_id)
    kind = str(form.get("kind", "task"))
    if kind not in KINDS:
        raise InvalidInput(N_("Unknown kind."), errors={"kind": N_("Invalid.")})
    draft, state, errors = forms.parse(form, kind)
    submit = form.get("action") == "submit"
    with form_rejection(also=(TooLarge,)) as rejected:
        if draft is None or errors:
            raise InvalidInput(N_("Please fix the highlighted fields."), errors=errors)
        item = service.create_item(
            session=session,
            project=project,
            draft=draft,
            author=user,
            submit=submit,
            limits=_limits(request),
        )
    if rejected:
        return _editor(
            request,
            project=project,
            state=state,
            errors=rejected.errors,
            error=rejected.error,
            status=_form_status(rejected),
        )
    message = N_("Item submitted for review.") if submit else N_("Draft saved.")
    return redirect(
        request, request.app.url_path_for("item_edit", item_id=item.id), toast=("success", message)
    )


@router.get("/items/{item_id}/edit", name="item_edit")
def edit_item(request: Request, session: DbSession, user: ProjectAnnotator, item_id: int):
    """The editor for a saved item."""
    item = service.get_item(session=session, item_id=item_id)
    project = projects.get_project(session=session, project_id=item.project_id)
    return _editor(request, project=project, state=forms.state_of(item), item=item, session=session)


@router.post("/items/{item_id}", name="item_update")
def update_item(
    request: Request, session: DbSession, user: ProjectAnnotator, item_id: int, form: Form_
):
    """Save a new version; a stale version answers 409 with the typed text kept."""
    item = service.get_item(session=session, item_id=item_id)
    project = projects.get_project(session=session, project_id=item.project_id)
    draft, state, errors = forms.parse(form, item.kind)
    submit = form.get("action") == "submit"
    try:
        expected = int(form.get("version", "0"))
    except ValueError:
        expected = 0
    with form_rejection(also=(Conflict, TooLarge)) as rejected:
        if draft is None or errors:
            raise InvalidInput(N_("Please fix the highlighted fields."), errors=errors)
        item = service.update_item(
            session=session,
            item_id=item_id,
            draft=draft,
            expected_version=expected,
            editor=user,
            submit=submit,
            limits=_limits(request),
        )
    if isinstance(rejected.error, Conflict):
        base = service.revision(session=session, item_id=item_id, version=expected)
        current = service.snapshot(item)
        changed = service.changed_fields(base.snapshot if base else {}, current)
        return _editor(
            request,
            project=project,
            state=state,
            item=item,
            error=rejected.error,
            conflict={"changed": changed, "version": item.version},
            status=rejected.status,
            session=session,
        )
    if rejected:
        return _editor(
            request,
            project=project,
            state=state,
            item=item,
            errors=rejected.errors,
            error=rejected.error,
            status=_form_status(rejected),
            session=session,
        )
    message = N_("Item submitted for review.") if submit else N_("Saved.")
    if is_htmx(request):
        response = _editor(
            request, project=project, state=forms.state_of(item), item=item, session=session
        )
        response.headers["HX-Trigger"] = toast_trigger(request, message)
        return response
    return redirect(
        request, request.app.url_path_for("item_edit", item_id=item.id), toast=("success", message)
    )


@router.post("/projects/{project_id}/items/check", name="item_check")
def check_item(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    member: Member,
    project_id: int,
    form: Form_,
):
    """Live checks for the editor (debounced htmx): verdicts, counts, preview, duplicates."""
    project = projects.get_project(session=session, project_id=project_id)
    kind = str(form.get("kind", "task"))
    if kind not in KINDS:
        kind = "task"
    draft, state, _errors = forms.parse(form, kind)
    item_id = form.get("item_id")
    report = checks.live_report(
        session,
        project_id=project.id,
        state=state,
        draft=draft,
        exclude_id=int(item_id) if item_id and re.fullmatch(r"[0-9]{1,9}", item_id) else None,
        limits=_limits(request),
        drafts_of=members.drafts_of(found=member, drafts_shared=project.drafts_shared),
    )
    return render(request, "items/_live.html", {"report": report, "project": project})


@router.get("/constraints/row", name="constraint_row")
def constraint_row(
    request: Request,
    user: Annotator,
    id: Annotated[str, Query(max_length=100)],
    row: Annotated[str, Query(pattern=r"^\d{1,6}$")],
):
    """One constraint row with inputs for its parameters."""
    if id not in registry.REGISTRY:
        raise InvalidInput(N_("Unknown constraint."))
    return render(
        request,
        "items/_constraint_row.html",
        {
            "c": {"row": row, "id": id, "raw": {}},
            "registry": registry.REGISTRY,
            "param_fields": registry.param_fields,
            "errors": {},
            "index": None,
        },
    )


@router.get("/projects/{project_id}/items", name="items")
def list_items(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    member: Member,
    project_id: int,
    q: Annotated[str, Query(max_length=200)] = "",
    kind: Annotated[ItemKind | None, Blank, Query()] = None,
    status: Annotated[str | None, Query(max_length=24)] = None,
    domain: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    author: Annotated[int | None, Blank, Query()] = None,
    difficulty: Annotated[Annotated[int, Field(ge=1, le=5)] | None, Blank, Query()] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    origin: Annotated[Origin | None, Blank, Query()] = None,
    drafted: Annotated[Drafted | None, Blank, Query()] = None,
    created_from: Annotated[date | None, Blank, Query()] = None,
    created_to: Annotated[date | None, Blank, Query()] = None,
    sort: Annotated[str, Query(pattern="^(newest|oldest|updated)$")] = "newest",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    """Items with filters, search, counts by status and keyset pagination."""
    project = projects.get_project(session=session, project_id=project_id)
    f = repository.ItemFilter(
        project_id=project.id,
        kind=kind or None,
        status=status or None,
        domain=domain or None,
        tag=tag or None,
        author_id=author,
        difficulty=difficulty,
        language=language or None,
        origin=origin,
        drafted=drafted,
        created_from=created_from,
        created_to=created_to,
        q=q,
        sort=sort,
        drafts_of=members.drafts_of(found=member, drafts_shared=project.drafts_shared),
    )
    rows, next_cursor = repository.page(session, f, cursor=cursor)
    context = {"project": project, "items": rows, "next_cursor": next_cursor, "f": f}
    if is_htmx(request) and request.headers.get("HX-Target") == "item-rows":
        return render(request, "items/_rows.html", context)  # "load more": rows only
    context.update(
        counts=repository.counts_by_status(session, f),
        domains=repository.domains(session, project.id),
        cursor=cursor,
        search_pending=bool(q) and indexer.pending(session, project.id),
    )
    return render(request, "items/list.html", context)


@router.post("/projects/{project_id}/items/clean", name="items_clean")
def clean_items(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    member: Member,
    project_id: int,
    item_ids: Annotated[list[int] | None, Form()] = None,
    rules: Annotated[list[str] | None, Form()] = None,
    confirm: Annotated[bool, Form()] = False,
):
    """Preview every change the chosen cleaning rules make, then apply them on confirm."""
    project = projects.get_project(session=session, project_id=project_id)
    item_ids = service.visible_ids(
        session=session,
        project_id=project_id,
        item_ids=item_ids or [],
        drafts_of=members.drafts_of(found=member, drafts_shared=project.drafts_shared),
    )
    if not item_ids or not rules:
        raise InvalidInput(N_("Select items and at least one cleaning rule."))
    try:
        changes = service.clean_items(
            session=session,
            project_id=project.id,
            item_ids=item_ids,
            rules=rules,
            actor=user,
            apply=confirm,
            limits=_limits(request),
        )
    except ValueError as error:
        raise InvalidInput(N_("Unknown cleaning rule.")) from error
    if confirm:
        return redirect(
            request,
            request.app.url_path_for("items", project_id=project.id),
            toast=("success", bulk_routes.changed(request, len(changes), len(item_ids))),
        )
    return render(
        request,
        "items/clean_preview.html",
        {"project": project, "changes": changes, "item_ids": item_ids, "rules": rules},
    )


# The bulk actions: their own module, one router with the editor's and the list's.
router.include_router(bulk_routes.router)
