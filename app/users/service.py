"""People: create, change role, deactivate, choose a UI language."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.service import end_all_sessions, normalize_email
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import LANGUAGES, N_
from app.models import Role, User
from app.security import hash_password

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


def _snapshot(user: User) -> dict[str, object]:
    return {"email": user.email, "role": user.role, "is_active": user.is_active}


def get_user(*, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No user with id %(id)s."), id=user_id)
    return user


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def create_user(
    *,
    session: Session,
    email: str,
    role: str,
    password: str,
    display_name: str = "",
    language: str = "en",
    actor: User | None,
) -> User:
    email = normalize_email(email)
    errors: dict[str, str] = {}
    if not EMAIL_RE.match(email):
        errors["email"] = N_("Enter a valid email address.")
    if role not in {r.value for r in Role}:
        errors["role"] = N_("Choose annotator, reviewer or admin.")
    if len(password) < MIN_PASSWORD:
        errors["password"] = N_("Use at least 8 characters.")
    if language not in LANGUAGES:
        errors["language"] = N_("Choose English or Chinese.")
    if errors:
        raise InvalidInput(N_("Please fix the highlighted fields."), errors=errors)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(N_("A user with email %(email)s already exists."), email=email)
    user = User(
        email=email,
        display_name=display_name.strip() or email.split("@")[0],
        password_hash=hash_password(password),
        role=role,
        language=language,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.created",
        entity_type="user",
        entity_id=user.id,
        after=_snapshot(user),
    )
    return user


def _check_version(user: User, expected_version: int | None) -> None:
    if expected_version is not None and user.version != expected_version:
        raise Conflict(
            N_("%(email)s was changed by someone else meanwhile. Review and retry."),
            email=user.email,
            current=user,
        )


def set_role(
    *,
    session: Session,
    user_id: int,
    role: str,
    actor: User | None,
    expected_version: int | None = None,
) -> User:
    user = get_user(session=session, user_id=user_id)
    _check_version(user, expected_version)
    if role not in {r.value for r in Role}:
        raise InvalidInput(
            N_("Choose annotator, reviewer or admin."), errors={"role": N_("Invalid.")}
        )
    if actor is not None and actor.id == user.id and role != Role.admin:
        raise Conflict(N_("You cannot remove your own admin role."))
    before = _snapshot(user)
    user.role = role
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.role_changed",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after=_snapshot(user),
    )
    return user


def set_active(
    *,
    session: Session,
    user_id: int,
    active: bool,
    actor: User | None,
    expected_version: int | None = None,
) -> User:
    """Deactivation ends the user's sessions at once; their tokens stop via the active flag."""
    user = get_user(session=session, user_id=user_id)
    _check_version(user, expected_version)
    if actor is not None and actor.id == user.id and not active:
        raise Conflict(N_("You cannot deactivate yourself."))
    if user.is_active == active:
        return user
    before = _snapshot(user)
    user.is_active = active
    if not active:
        end_all_sessions(session=session, user_id=user.id)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.activated" if active else "user.deactivated",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after=_snapshot(user),
    )
    return user


def set_language(*, session: Session, user: User, language: str) -> User:
    if language not in LANGUAGES:
        raise InvalidInput(N_("Choose English or Chinese."), errors={"language": N_("Invalid.")})
    user.language = language
    session.flush()
    return user


def find_by_email(*, session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound(N_("No user with email %(email)s."), email=email)
    return user
