"""Row factories that go through the real services."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from app.members import service as members
from app.models import Project, ProjectRole, User
from app.tokens import service as tokens
from app.users import service as users

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


def make_user(
    session: Session, *, role: str = "annotator", email: str | None = None, language: str = "en"
) -> User:
    email = email or f"user{next(_seq)}@example.org"
    return users.create_user(
        session=session, email=email, role=role, password=PASSWORD, language=language, actor=None
    )


def make_token(session: Session, *, scope: str = "worker", owner: User | None = None) -> str:
    return tokens.create_token(
        session=session, name=f"token-{next(_seq)}", scope=scope, owner=owner, actor=None
    ).raw


def join(session: Session, project: Project, *people: User, role: str | None = None) -> None:
    """Make each person a member of ``project``: in ``role``, or in the project role that
    matches their global role (as an upgrade does for existing users)."""
    for person in people:
        members.add_member(
            session=session,
            project=project,
            user=person,
            role=role or ProjectRole.for_global_role(person.role),
            actor=None,
        )
