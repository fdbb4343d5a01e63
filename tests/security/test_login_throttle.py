"""Attacks on sign-in throttling: locking the admin out from elsewhere, spraying one password
over many emails, making each refused attempt cost a password hash, and racing attempts past
the limit. Time is an injected clock that the tests move forward; nothing sleeps."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth import service
from app.errors import DomainError, InvalidInput, TooManyAttempts
from app.models import LoginFailure
from app.models.base import utcnow
from tests.factories import PASSWORD, make_user
from tests.helpers import csrf_from, in_parallel

ATTACKER = "203.0.113.9"
ADMIN_DESK = "198.51.100.20"


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """Every password check the sign-in makes, by the email's password hash checked."""
    calls: list[str] = []
    lock = threading.Lock()
    real = service.verify_password

    def counting(password, password_hash):
        with lock:
            calls.append(password_hash or "")
        return real(password, password_hash)

    monkeypatch.setattr(service, "verify_password", counting)
    return calls


def _client(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000), follow_redirects=False)


def _post_login(client: TestClient, email: str, password: str):
    page = client.get("/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )


def test_a_third_party_cannot_lock_the_admin_out(app, clock, admin_user):
    """An attacker guesses the admin's password as fast as the throttle lets them; the admin,
    elsewhere, is at most told to wait a short while, then signs in."""
    settings = app.state.settings
    cap = settings.login_max_delay_seconds
    failures = 0
    with _client(app, ATTACKER) as attacker:
        while failures < settings.login_max_failures + 12:
            answer = _post_login(attacker, admin_user.email, f"guess-{failures}")
            if answer.status_code == 429:
                wait = int(answer.headers["Retry-After"])
                assert 1 <= wait <= cap  # growing delays, never a lockout
                assert f"Try again in {wait} seconds." in answer.text
                clock.advance(wait)
                continue
            assert answer.status_code == 400
            failures += 1
    with _client(app, ADMIN_DESK) as admin:
        answer = _post_login(admin, admin_user.email, PASSWORD)
        if answer.status_code == 429:
            wait = int(answer.headers["Retry-After"])
            assert wait <= cap
            clock.advance(wait)
            answer = _post_login(admin, admin_user.email, PASSWORD)
        assert answer.status_code == 303
        assert "studio_session=" in answer.headers["set-cookie"]


def test_the_delay_is_capped_however_long_the_attack(app, clock, admin_user, db_session):
    """Hundreds of recorded failures still make the admin wait no more than the cap."""
    throttle = service.Throttle.from_settings(app.state.settings)
    for n in range(300):
        db_session.add(
            LoginFailure(email=admin_user.email, address=ATTACKER, at=clock.now - timedelta(0, n))
        )
    db_session.flush()
    with _client(app, ADMIN_DESK) as admin:
        answer = _post_login(admin, admin_user.email, PASSWORD)
        assert answer.status_code == 429
        assert int(answer.headers["Retry-After"]) <= throttle.max_delay.total_seconds()
        clock.advance(throttle.max_delay.total_seconds())
        assert _post_login(admin, admin_user.email, PASSWORD).status_code == 303


def test_spraying_one_password_over_many_emails_is_throttled(app, clock, hashes, db_session):
    """One address tries one common password on a new email each time: past the per-address
    limit it is refused, and the refusals check no password."""
    settings = app.state.settings
    settings.login_address_max_failures = 10
    victims = [make_user(db_session) for _ in range(3)]
    emails = [victim.email for victim in victims] + [f"staff{n}@example.org" for n in range(22)]
    with _client(app, ATTACKER) as attacker:
        codes = [_post_login(attacker, email, "Summer2024!").status_code for email in emails]
    assert codes[:10] == [400] * 10
    assert set(codes[10:]) == {429}
    assert len(hashes) == 10
    # Someone else, elsewhere, is not slowed down by that address.
    with _client(app, ADMIN_DESK) as other:
        assert _post_login(other, victims[-1].email, PASSWORD).status_code == 303


def test_an_attempt_during_a_delay_checks_no_password(app, clock, hashes, admin_user):
    """Neither an account's delay nor an address's delay costs an argon2 hash per attempt."""
    settings = app.state.settings
    settings.login_address_max_failures = settings.login_max_failures + 2
    with _client(app, ATTACKER) as attacker:
        for n in range(settings.login_max_failures):
            assert _post_login(attacker, admin_user.email, f"guess-{n}").status_code == 400
        checked = len(hashes)
        for n in range(20):  # the account's delay
            answer = _post_login(attacker, admin_user.email, f"more-{n}")
            assert answer.status_code == 429
            assert answer.headers["Retry-After"] == "1"
        assert len(hashes) == checked
        clock.advance(1)
        for n in range(2):  # other emails, until the address's own limit
            assert _post_login(attacker, f"other{n}@example.org", "x").status_code == 400
        checked = len(hashes)
        for n in range(20):  # the address's delay, whichever email
            assert _post_login(attacker, f"fresh{n}@example.org", "x").status_code == 429
        assert len(hashes) == checked


def test_parallel_attempts_do_not_check_more_passwords_than_allowed(committed, hashes):
    """Two wrong guesses at once with one attempt left before the delay: only one of them
    checks a password and is recorded; the other waits for it and is refused."""
    throttle = service.Throttle(
        account_failures=3,
        address_failures=50,
        window=timedelta(minutes=15),
        max_delay=timedelta(minutes=5),
    )
    now = utcnow()
    with Session(committed) as session:
        victim = make_user(session, role="admin")
        email = victim.email
        for n in range(throttle.account_failures - 1):
            session.add(LoginFailure(email=email, address=ATTACKER, at=now - timedelta(0, n + 1)))
        session.commit()
    checked_before = len(hashes)

    def attempt(session, index):
        try:
            service.login(
                session=session,
                email=email,
                password=f"guess-{index}",
                address=f"192.0.2.{index + 1}",
                lifetime=timedelta(hours=1),
                throttle=throttle,
                now=now,
            )
        except DomainError as error:
            return error
        return None

    results = in_parallel(committed, attempt)
    assert len(hashes) - checked_before == 1
    assert sorted(type(r).__name__ for r in results) == sorted(
        [InvalidInput.__name__, TooManyAttempts.__name__]
    )
    with Session(committed) as session:
        recorded = session.scalar(
            select(func.count()).select_from(LoginFailure).where(LoginFailure.email == email)
        )
    assert recorded == throttle.account_failures
