"""Admin pages for people: list, create, change role, deactivate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.auth.deps import Admin
from app.db import DbSession
from app.i18n import N_
from app.members import access as members
from app.models import Role
from app.users import service
from app.web import form_rejection, redirect, render

router = APIRouter(prefix="/admin")


def _page(request, session, *, form=None, errors=None, error=None, status=200):
    return render(
        request,
        "users/list.html",
        {
            "users": service.list_users(session=session),
            "memberships": members.memberships_by_user(session),
            "roles": list(Role),
            "form": form or {"role": "annotator", "language": "en"},
            "errors": errors or {},
            "error": error,
        },
        status_code=status,
    )


@router.get("/", name="admin_index")
def admin_index(request: Request, user: Admin) -> Response:
    """Admin start page."""
    return redirect(request, request.app.url_path_for("admin_users"))


@router.get("/users", name="admin_users")
def list_users(request: Request, session: DbSession, user: Admin) -> Response:
    """List people with their roles and status."""
    return _page(request, session)


@router.post("/users", name="admin_users_create")
def create_user(
    request: Request,
    session: DbSession,
    user: Admin,
    email: Annotated[str, Form(max_length=320)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form()] = "annotator",
    password: Annotated[str, Form(max_length=1024)] = "",
    language: Annotated[str, Form()] = "en",
) -> Response:
    """Create a person; an invalid form comes back with the messages inline."""
    form = {"email": email, "display_name": display_name, "role": role, "language": language}
    with form_rejection(status=400) as rejected:
        created = service.create_user(
            session=session,
            email=email,
            display_name=display_name,
            role=role,
            password=password,
            language=language,
            actor=user,
        )
    if rejected:
        return _page(
            request,
            session,
            form=form,
            errors=rejected.errors,
            error=rejected.error,
            status=rejected.status,
        )
    return redirect(
        request,
        request.app.url_path_for("admin_users"),
        toast=("success", N_("User %(email)s created."), {"email": created.email}),
    )


@router.post("/users/{user_id}/role", name="admin_users_role")
def change_role(
    request: Request,
    session: DbSession,
    user: Admin,
    user_id: int,
    role: Annotated[str, Form()],
    version: Annotated[int, Form()],
) -> Response:
    """Change a person's role (optimistic locking on the version shown)."""
    service.set_role(
        session=session, user_id=user_id, role=role, actor=user, expected_version=version
    )
    return redirect(
        request, request.app.url_path_for("admin_users"), toast=("success", N_("Role changed."))
    )


@router.post("/users/{user_id}/active", name="admin_users_active")
def set_active(
    request: Request,
    session: DbSession,
    user: Admin,
    user_id: int,
    active: Annotated[bool, Form()],
    version: Annotated[int, Form()],
) -> Response:
    """Deactivate (ending their sessions at once) or reactivate a person."""
    service.set_active(
        session=session, user_id=user_id, active=active, actor=user, expected_version=version
    )
    message = N_("User reactivated.") if active else N_("User deactivated.")
    return redirect(request, request.app.url_path_for("admin_users"), toast=("success", message))
