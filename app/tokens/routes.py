"""Admin pages for API tokens: create (shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.auth.deps import Admin
from app.db import DbSession
from app.i18n import N_
from app.models import TokenScope
from app.tokens import service
from app.web import form_rejection, redirect, render

router = APIRouter(prefix="/admin")


def _page(request, session, *, issued=None, form=None, error=None, status=200):
    return render(
        request,
        "tokens/list.html",
        {
            "tokens": service.list_tokens(session=session),
            "scopes": list(TokenScope),
            "issued": issued,
            "form": form or {"scope": "worker"},
            "error": error,
        },
        status_code=status,
    )


@router.get("/tokens", name="admin_tokens")
def list_tokens(request: Request, session: DbSession, user: Admin) -> Response:
    """List tokens (never their values)."""
    return _page(request, session)


@router.post("/tokens", name="admin_tokens_create")
def create_token(
    request: Request,
    session: DbSession,
    user: Admin,
    name: Annotated[str, Form(max_length=200)] = "",
    scope: Annotated[str, Form()] = "worker",
) -> Response:
    """Create a token and show its value this one time."""
    with form_rejection(status=400) as rejected:
        issued = service.create_token(
            session=session, name=name, scope=scope, owner=user, actor=user
        )
    if rejected:
        form = {"name": name, "scope": scope}
        return _page(request, session, form=form, error=rejected.error, status=rejected.status)
    return _page(request, session, issued=issued)


@router.post("/tokens/{token_id}/revoke", name="admin_tokens_revoke")
def revoke_token(request: Request, session: DbSession, user: Admin, token_id: int) -> Response:
    """Revoke a token; it stops working at once."""
    service.revoke_token(session=session, token_id=token_id, actor=user)
    return redirect(
        request, request.app.url_path_for("admin_tokens"), toast=("success", N_("Token revoked."))
    )
