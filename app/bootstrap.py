"""First start: an admin account, from settings or with a generated password."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import User
from app.security import generate_password
from app.users import service as users


def ensure_admin(*, session: Session, settings: Settings, echo: Callable[[str], None]) -> bool:
    """Create the bootstrap admin when there is nobody yet; print a generated password once.

    Returns True on the first start (when the admin was created)."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return False
    password = settings.admin_password or generate_password()
    admin = users.create_user(
        session=session,
        email=settings.admin_email,
        role="admin",
        password=password,
        display_name="Admin",
        actor=None,
    )
    echo(f"Created the first admin: {admin.email}")
    if not settings.admin_password:
        echo(f"Generated password (shown once): {password}")
    return True
