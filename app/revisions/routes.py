"""An item's history: revisions, side-by-side word diffs, restore."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request

from app.auth.deps import ProjectAnnotator
from app.db import DbSession
from app.i18n import N_
from app.items import service as items
from app.items.lengths import ContentLimits
from app.revisions import service
from app.web import redirect, render

router = APIRouter()


@router.get("/items/{item_id}/history", name="item_history")
def history(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    item_id: int,
    a: Annotated[int | None, Query(ge=1)] = None,
    b: Annotated[int | None, Query(ge=1)] = None,
):
    """Revisions of an item; pick two to compare them side by side."""
    item = items.get_item(session=session, item_id=item_id)
    rows = service.revisions(session=session, item_id=item.id)
    comparison = None
    if rows:
        newest, oldest = rows[0].version, rows[-1].version
        b = b or newest
        a = a or (rows[1].version if len(rows) > 1 else oldest)
        old = service.get_revision(session=session, item_id=item.id, version=a)
        new = service.get_revision(session=session, item_id=item.id, version=b)
        comparison = {"a": old, "b": new, "rows": service.compare(old, new)}
    return render(
        request,
        "revisions/history.html",
        {"item": item, "revisions": rows, "comparison": comparison},
    )


@router.post("/items/{item_id}/restore", name="item_restore")
def restore(
    request: Request,
    session: DbSession,
    user: ProjectAnnotator,
    item_id: int,
    version: Annotated[int, Form(ge=1)],
    current: Annotated[int, Form(ge=1)],
):
    """Restore an old revision as a new version."""
    item = service.restore(
        session=session,
        item_id=item_id,
        version=version,
        expected_version=current,
        editor=user,
        limits=ContentLimits.of(request.app.state.settings),
    )
    return redirect(
        request,
        request.app.url_path_for("item_history", item_id=item.id),
        toast=(
            "success",
            N_("Revision %(v)s restored as version %(new)s."),
            {"v": version, "new": item.version},
        ),
    )
