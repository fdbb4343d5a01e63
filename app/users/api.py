"""JSON API for people and the caller."""

from __future__ import annotations

from fastapi import APIRouter

from app.apidoc import ERRORS, PathId
from app.auth.deps import Admin, AnyPrincipal
from app.db import DbSession
from app.members import access as members
from app.users import service
from app.users.schemas import MembershipOut, MeOut, UserCreate, UserOut, UserPatch

router = APIRouter(prefix="/api/v1", tags=["users"], responses=ERRORS)


@router.get("/me", response_model=MeOut, name="api_me")
def me(principal: AnyPrincipal, session: DbSession) -> MeOut:
    """Who the caller is: a person (session or user token, with their projects) or a worker
    token."""
    if principal.user is not None:
        return MeOut(
            kind="user",
            user=UserOut.model_validate(principal.user),
            token_name=principal.token.name if principal.token else None,
            memberships=[
                MembershipOut(project_id=project_id, project=name, role=role)
                for project_id, name, role in members.memberships_of(
                    session, user_id=principal.user.id
                )
            ],
        )
    return MeOut(kind="worker", token_name=principal.token.name if principal.token else None)


@router.get("/users", response_model=list[UserOut], name="api_users")
def list_users(session: DbSession, user: Admin) -> list[UserOut]:
    """List every person."""
    return [UserOut.model_validate(u) for u in service.list_users(session=session)]


@router.post("/users", response_model=UserOut, status_code=201, name="api_users_create")
def create_user(body: UserCreate, session: DbSession, user: Admin) -> UserOut:
    """Create a person."""
    created = service.create_user(session=session, actor=user, **body.model_dump())
    return UserOut.model_validate(created)


@router.patch("/users/{user_id}", response_model=UserOut, name="api_users_patch")
def patch_user(user_id: PathId, body: UserPatch, session: DbSession, user: Admin) -> UserOut:
    """Change a person's role or active flag; a stale version answers 409."""
    target = service.get_user(session=session, user_id=user_id)
    version = body.version
    if body.role is not None:
        target = service.set_role(
            session=session, user_id=user_id, role=body.role, actor=user, expected_version=version
        )
        version = target.version
    if body.is_active is not None:
        target = service.set_active(
            session=session,
            user_id=user_id,
            active=body.is_active,
            actor=user,
            expected_version=version,
        )
    return UserOut.model_validate(target)
