"""Calling the JSON API in tests as someone: a token's headers, and what a refusal looks like."""

from __future__ import annotations

from tests.factories import join, make_token, make_user


def bearer(session, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, scope='user', owner=user)}"}


def member(session, project, role: str) -> dict[str, str]:
    """The headers of a new global annotator who holds ``role`` in ``project``."""
    person = make_user(session)
    join(session, project, person, role=role)
    return bearer(session, person)


def outsider(session) -> dict[str, str]:
    return bearer(session, make_user(session, role="reviewer"))


def refused(response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
