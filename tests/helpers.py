"""HTTP helpers for tests: sign in as a person, read the CSRF token from a page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

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
