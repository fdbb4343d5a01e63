"""Helpers for tests: sign in as a person, read the CSRF token from a page, run two
transactions at once."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.db import begin_for_write
from app.errors import Conflict
from app.models.base import utcnow
from tests.factories import PASSWORD

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; return the session's CSRF token."""
    page = client.get("/login")
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/").text)


def in_parallel(engine, work):
    """Run work(session, index) in two threads that start together; commit each; a Conflict
    is the thread's result."""
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(index):
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait(30)
            begin_for_write(session)  # as the app does for every write request
            try:
                results[index] = work(session, index)
                session.commit()
            except Conflict as error:
                session.rollback()
                results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


class Clock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
