"""Signing in and out: browser sessions, login throttling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.errors import InvalidInput, TooManyAttempts
from app.i18n import N_
from app.models import LoginFailure, User, WebSession
from app.models.base import utcnow
from app.security import new_secret, sha256, verify_password


@dataclass(frozen=True)
class NewSession:
    raw_id: str
    csrf_token: str
    user: User


def normalize_email(email: str) -> str:
    return email.strip().lower()


def login(
    *,
    session: Session,
    email: str,
    password: str,
    lifetime: timedelta,
    max_failures: int,
    window: timedelta,
) -> NewSession:
    """Check the credentials and open a browser session.

    The same message answers an unknown email, a wrong password and a
    deactivated account, so the form does not tell which accounts exist.
    """
    email = normalize_email(email)
    now = utcnow()
    recent = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.email == email, LoginFailure.at > now - window)
    )
    if recent >= max_failures:
        raise TooManyAttempts(
            N_("Too many failed sign-ins. Try again in %(minutes)s minutes."),
            minutes=int(window.total_seconds() // 60),
        )
    user = session.scalar(select(User).where(User.email == email))
    ok = verify_password(password, user.password_hash if user else None)
    if not ok or user is None or not user.is_active:
        session.add(LoginFailure(email=email, at=now))
        audit.record(
            session,
            actor=None,
            action="login.failed",
            entity_type="user",
            entity_id=user.id if user else None,
            actor_label=email,
        )
        raise InvalidInput(N_("Email or password is incorrect."))
    session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    raw_id = new_secret()
    web_session = WebSession(
        id_hash=sha256(raw_id),
        user_id=user.id,
        csrf_token=new_secret(),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(web_session)
    audit.record(
        session, actor=user, action="login.succeeded", entity_type="user", entity_id=user.id
    )
    return NewSession(raw_id=raw_id, csrf_token=web_session.csrf_token, user=user)


def resolve_session(*, session: Session, raw_id: str) -> tuple[WebSession, User] | None:
    """The live session and its active user, or None; a deactivated user is out at once."""
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.id_hash == sha256(raw_id))
    ).first()
    if row is None:
        return None
    web_session, user = row
    if web_session.expires_at <= utcnow() or not user.is_active:
        return None
    return web_session, user


def logout(*, session: Session, raw_id: str, user: User) -> None:
    session.execute(delete(WebSession).where(WebSession.id_hash == sha256(raw_id)))
    audit.record(session, actor=user, action="logout", entity_type="user", entity_id=user.id)


def end_all_sessions(*, session: Session, user_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))
