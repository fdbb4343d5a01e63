"""Rule-based augmentation in the browser: the form that queues an augmentation task over the
item list's filter or the items chosen there (a manager's, as generation jobs are), counting
the items that qualify and leading on to the model-based options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from app.assignments.forms import item_filter
from app.auth.deps import ProjectManager
from app.core.augment import DEFAULT_RATE, OPERATIONS
from app.db import MAX_INTEGER, DbSession
from app.errors import InvalidInput
from app.i18n import N_
from app.items import augment_recipe, augment_task, forms
from app.items.augment_recipe import Recipe, random_seed
from app.projects import service as projects
from app.web import form_rejection, redirect, render

router = APIRouter()
Form_ = Annotated[FormData, Depends(forms.form_data)]
# The operations' names, for label(code, table) in the page.
OPERATION_LABELS = {op.id: op.label for op in OPERATIONS.values()}
OPERATION_HINTS = {
    "synonym_replacement": N_("Words become synonyms (WordNet, Tongyici Cilin)."),
    "random_insertion": N_("A synonym of one word is put in at a random place."),
    "random_swap": N_("Two words change places."),
    "random_deletion": N_("Words are left out at random."),
}
DEFAULTS = {"operation": "synonym_replacement", "rate": str(DEFAULT_RATE), "copies": "1"}
TYPED = ("operation", "rate", "copies", "seed", "input")
# The latest augmentation tasks the page shows, and the items its preview rewrites.
RECENT = 5
PREVIEWED = 3


@router.get("/projects/{project_id}/augment", name="augment")
def augment_page(request: Request, session: DbSession, user: ProjectManager, project_id: int):
    """The augmentation form for the item list's filter or chosen items (item_ids)."""
    given = {k: v.strip()[:32] for k, v in request.query_params.items() if k in TYPED}
    values = {**_defaults(), **given}
    return _page(request, session, user, project_id, request.query_params, values)


@router.post("/projects/{project_id}/augment", name="augment_start")
def augment_start(
    request: Request, session: DbSession, user: ProjectManager, project_id: int, form: Form_
) -> Response:
    """Queue the augmentation task; step=choose (the item list's selection) only opens the
    form for the chosen items. Bad fields come back inline, nothing typed lost."""
    values = {name: str(form.get(name) or "").strip()[:32] for name in TYPED}
    if form.get("step") == "choose":
        # Only the ticked ids: the list's other fields (its tag box) are no filter here.
        chosen = FormData([("item_ids", str(item_id)) for item_id in _chosen(form)])
        if not chosen:
            raise InvalidInput(N_("Select at least one item."))
        return _page(request, session, user, project_id, chosen, _defaults())
    project = projects.get_project(session=session, project_id=project_id)
    with form_rejection(status=422) as rejected:
        task = augment_task.start(
            session=session,
            project=project,
            f=_scope(project.id, form),
            recipe=recipe_of(values),
            actor=user,
        )
    if rejected:
        return _page(
            request, session, user, project_id, form, values,
            error=rejected.error, status=rejected.status,
        )  # fmt: skip
    return redirect(
        request,
        request.app.url_path_for("task", task_id=task.id),
        toast=("success", N_("Augmentation queued.")),
    )


def _defaults() -> dict[str, str]:
    """A new form's values: a seed drawn now, so the preview is what the task writes."""
    return {**DEFAULTS, "seed": str(random_seed())}


def recipe_of(values: dict[str, str]) -> Recipe:
    """The recipe the form's fields spell; a field that is no number is refused by name."""
    return Recipe(
        operation=values["operation"],
        rate=_number(values, "rate", float, DEFAULT_RATE),
        copies=_number(values, "copies", int, 1),
        seed=_number(values, "seed", int, None),
        fields=("instruction", "input") if values.get("input") else ("instruction",),
    )


def _number(values: dict[str, str], name: str, cast: Callable[[str], Any], default: Any) -> Any:
    text = values.get(name, "")
    if not text:
        return default
    try:
        return cast(text)
    except ValueError:
        raise InvalidInput(
            N_("Some fields need attention; nothing was queued."),
            errors={name: N_("Type a number.")},
        ) from None


def _chosen(params) -> tuple[int, ...]:
    ids = params.getlist("item_ids") if hasattr(params, "getlist") else []
    return tuple(sorted({int(i) for i in ids if str(i).isdigit() and 0 < int(i) <= MAX_INTEGER}))


def _scope(project_id: int, params):
    """The item list's filter carried in ``params``, narrowed to the chosen ids if any."""
    return replace(item_filter(project_id, params)[0], item_ids=_chosen(params))


def _page(request, session, user, project_id, params, values, *, error=None, status=200):
    project = projects.get_project(session=session, project_id=project_id)
    kept = item_filter(project.id, params)[1]
    f = augment_task.scope(session, project, _scope(project.id, params), user)
    cap = augment_task.MAX_ITEMS
    chosen = list(f.item_ids)
    model_query = urlencode({**kept, "item_ids": chosen, "task": "paraphrase"}, doseq=True)
    model_link = request.app.url_path_for("generation_new", project_id=project.id)
    return render(
        request,
        "items/augment.html",
        {
            "project": project,
            "filters": kept,
            "item_ids": chosen,
            "qualifying": augment_task.count_qualifying(session, f, cap=cap + 1),
            "in_languages": augment_task.count_qualifying(
                session, f, augment_task.in_languages(), cap=cap + 1
            ),
            "count_cap": cap,
            "max_copies": augment_recipe.MAX_COPIES,
            "operations": OPERATION_LABELS,
            "hints": OPERATION_HINTS,
            "values": values,
            "errors": getattr(error, "errors", None) or {},
            "error": error,
            "list_query": urlencode(kept),
            "model_link": f"{model_link}?{model_query}",
            "recent": augment_task.recent(session, project.id, limit=RECENT),
            "preview": _preview(session, f, values),
        },
        status_code=status,
    )


def _preview(session, f, values: dict[str, str]) -> list[tuple]:
    try:
        recipe = recipe_of(values)
    except InvalidInput:
        return []
    return augment_task.preview(session, f, recipe, limit=PREVIEWED)
