"""JSON API for an item's history: its revisions, and restoring one as a new version."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.apidoc import ERRORS, PathId
from app.auth.deps import ProjectAnnotator
from app.db import DbSession
from app.items import service as items
from app.items.lengths import ContentLimits
from app.items.schemas import ItemOut
from app.revisions import service
from app.revisions.schemas import RestoreIn, RevisionOut
from app.users import service as users

router = APIRouter(prefix="/api/v1", tags=["items"], responses=ERRORS)


@router.get("/items/{item_id}/history", response_model=list[RevisionOut], name="api_item_history")
def history(item_id: PathId, session: DbSession, user: ProjectAnnotator) -> list[RevisionOut]:
    """Every saved revision of an item, newest first, each with its full snapshot."""
    item = items.get_item(session=session, item_id=item_id)
    rows = service.revisions(session=session, item_id=item.id)
    editors = {
        editor_id: users.get_user(session=session, user_id=editor_id)
        for editor_id in {r.editor_id for r in rows if r.editor_id is not None}
    }
    return [RevisionOut.of(r, editors) for r in rows]


@router.post("/items/{item_id}/restore", response_model=ItemOut, name="api_item_restore")
def restore(
    request: Request, item_id: PathId, body: RestoreIn, session: DbSession, user: ProjectAnnotator
):
    """Save an old revision's content as a new version (history is never rewritten). The
    same checks as an edit apply: a stale ``version`` answers 409, and only the author, the
    project's reviewers or whoever the item is assigned to may restore it."""
    return service.restore(
        session=session,
        item_id=item_id,
        version=body.revision,
        expected_version=body.version,
        editor=user,
        limits=ContentLimits.of(request.app.state.settings),
    )
