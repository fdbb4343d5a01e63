"""The members page's forms: the fields as typed, checked all at once, then handed to the
service."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.i18n import N_
from app.members.service import MAX_QUOTA, ROLES, add_member, change_member
from app.models import Project, ProjectMember, ProjectRole, User


def _typed_quota(text: str, errors: dict[str, str]) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdecimal() or len(text) > 7 or not 1 <= int(text) <= MAX_QUOTA:
        errors["quota"] = N_("Leave empty, or a whole number from 1 to 1,000,000.")
        return None
    return int(text)


def _typed_role(role: str, errors: dict[str, str]) -> str:
    if role not in ROLES:
        errors["role"] = N_("Choose annotator, reviewer or manager.")
    return role


def _refuse(errors: dict[str, str]) -> None:
    if errors:
        raise InvalidInput(N_("Please fix the highlighted fields."), errors=errors)


def add_from_form(
    *, session: Session, project: Project, user_id: str, role: str, quota: str, actor: User
) -> tuple[ProjectMember, User]:
    """Add the person chosen in the members form; an empty role means the one matching their
    global role. Every field's problem is reported at once."""
    errors: dict[str, str] = {}
    user = session.get(User, int(user_id)) if user_id.isdecimal() and len(user_id) < 10 else None
    if user is None or not user.is_active:
        errors["user_id"] = N_("Choose a person from the list.")
    if role:
        _typed_role(role, errors)
    typed_quota = _typed_quota(quota, errors)
    _refuse(errors)
    assert user is not None
    role = role or ProjectRole.for_global_role(user.role).value
    member = add_member(
        session=session, project=project, user=user, role=role, actor=actor, quota=typed_quota
    )
    return member, user


def change_from_form(
    *,
    session: Session,
    project_id: int,
    user_id: int,
    role: str,
    quota: str,
    expected_version: int | None,
    actor: User,
) -> ProjectMember:
    """Change a member from the members table's row form (the quota as typed)."""
    errors: dict[str, str] = {}
    _typed_role(role, errors)
    typed_quota = _typed_quota(quota, errors)
    _refuse(errors)
    return change_member(
        session=session,
        project_id=project_id,
        user_id=user_id,
        role=role,
        quota=typed_quota,
        expected_version=expected_version,
        actor=actor,
    )
