"""Signing in and out: browser sessions, login throttling."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select, text
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.errors import InvalidInput, TooManyAttempts
from app.i18n import N_
from app.models import LoginFailure, User, WebSession
from app.models.base import utcnow
from app.security import new_secret, sha256, verify_password

# Old failures no longer count; each failure deletes at most this many of them.
PRUNE_BATCH = 100


@dataclass(frozen=True)
class NewSession:
    raw_id: str
    csrf_token: str
    user: User


@dataclass(frozen=True)
class Throttle:
    """How failed sign-ins slow down the next attempts.

    Past ``account_failures`` failures on one email (or ``address_failures`` from one client
    address, over any emails) within ``window``, each further failure doubles a wait counted
    from the latest one: 1 s, 2 s, 4 s … up to ``max_delay``. A wait delays sign-in but never
    locks an account: it ends ``max_delay`` after the last failure at the latest."""

    account_failures: int
    address_failures: int
    window: timedelta
    max_delay: timedelta

    @classmethod
    def from_settings(cls, settings) -> Throttle:
        return cls(
            account_failures=settings.login_max_failures,
            address_failures=settings.login_address_max_failures,
            window=timedelta(minutes=settings.login_window_minutes),
            max_delay=timedelta(seconds=settings.login_max_delay_seconds),
        )

    def delay(self, failures: int, allowed: int) -> timedelta:
        """The wait after ``failures`` recent failures where ``allowed`` pass freely."""
        if failures < allowed:
            return timedelta(0)
        # The exponent is bounded so that the number stays small before the cap applies.
        seconds = 2 ** min(failures - allowed, 40)
        return min(timedelta(seconds=seconds), self.max_delay)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _same_address(address: str | None) -> ColumnElement[bool]:
    return LoginFailure.address.is_(None) if address is None else LoginFailure.address == address


def _serialize(session: Session, *names: str) -> None:
    """Take PostgreSQL transaction locks on these names, so that attempts on the same email
    or from the same address count and record their failures one after the other.

    Without them two attempts could both count N-1 failures and both check a password. The
    locks are taken in one order, so two attempts never wait on each other. SQLite needs
    none: a sign-in is a write request, and its writers are serialized by BEGIN IMMEDIATE."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in sorted(set(names)):
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _wait(
    session: Session, where: ColumnElement[bool], *, allowed: int, throttle: Throttle, now: datetime
) -> int:
    """Whole seconds left before an attempt matching ``where`` may check a password."""
    failures, last = session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(
            where, LoginFailure.at > now - throttle.window
        )
    ).one()
    if not failures:
        return 0
    left = (last + throttle.delay(failures, allowed) - now).total_seconds()
    return math.ceil(left) if left > 0 else 0


def _record_failure(
    session: Session, *, email: str, address: str | None, now: datetime, window: timedelta
) -> None:
    session.add(LoginFailure(email=email, address=address, at=now))
    # Keep the table short: drop a batch of rows too old to count. Rows another attempt is
    # deleting are skipped rather than waited for, so pruning never blocks a sign-in.
    stale = (
        select(LoginFailure.id)
        .where(LoginFailure.at <= now - window)
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    session.execute(
        delete(LoginFailure)
        .where(LoginFailure.id.in_(stale))
        .execution_options(synchronize_session=False)
    )


def login(
    *,
    session: Session,
    email: str,
    password: str,
    address: str | None,
    lifetime: timedelta,
    throttle: Throttle,
    now: datetime | None = None,
) -> NewSession:
    """Check the credentials and open a browser session.

    The same message answers an unknown email, a wrong password and a
    deactivated account, so the form does not tell which accounts exist. An attempt
    during a throttling wait is refused before any password is checked, so a flood of
    attempts costs no hashing. ``address`` is the client's address as the server sees it.
    """
    email = normalize_email(email)
    address = address[:64] if address else None
    now = now or utcnow()
    _serialize(session, f"login-email:{email}", f"login-address:{address}")
    wait = max(
        _wait(
            session,
            LoginFailure.email == email,
            allowed=throttle.account_failures,
            throttle=throttle,
            now=now,
        ),
        _wait(
            session,
            _same_address(address),
            allowed=throttle.address_failures,
            throttle=throttle,
            now=now,
        ),
    )
    if wait:
        raise TooManyAttempts(
            N_("Too many failed sign-ins. Try again in %(seconds)s seconds."), seconds=wait
        )
    user = session.scalar(select(User).where(User.email == email))
    ok = verify_password(password, user.password_hash if user else None)
    if not ok or user is None or not user.is_active:
        _record_failure(session, email=email, address=address, now=now, window=throttle.window)
        audit.record(
            session,
            actor=None,
            action="login.failed",
            entity_type="user",
            entity_id=user.id if user else None,
            actor_label=email,
        )
        raise InvalidInput(N_("Email or password is incorrect."))
    # Forget this address's own mistakes on the account; failures from elsewhere (someone
    # else guessing) keep counting, so a sign-in does not hand a guesser fresh attempts.
    session.execute(delete(LoginFailure).where(LoginFailure.email == email, _same_address(address)))
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
