"""`studio projects assign` as a real process: by item ids or by status, then --unassign."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import make_engine
from app.models import Assignment, AuditEvent
from tests.factories import make_user
from tests.review_factories import force_status, make_item, make_project
from tests.test_cli import cli_env, studio  # noqa: F401 (the fixture)


@pytest.fixture
def seeded(cli_env):  # noqa: F811
    engine = make_engine(cli_env["STUDIO_DATABASE_URL"])
    with Session(engine, expire_on_commit=False) as session:
        admin = make_user(session, role="admin", email="root@example.org")
        ann = make_user(session, email="ann@example.org")
        project = make_project(session, admin, name="Cli work", members=(ann,))
        items = [
            make_item(session, project, admin, text=f"Command line item {n}.", submit=False)
            for n in range(3)
        ]
        force_status(session, items[2], "submitted")
        session.commit()
    yield engine, [i.id for i in items]
    engine.dispose()


def _rows(engine):
    with Session(engine) as session:
        return sorted((a.item_id, a.task) for a in session.scalars(select(Assignment)))


def test_assign_by_status_then_unassign_by_id(cli_env, seeded):  # noqa: F811
    engine, ids = seeded
    assign = ("projects", "assign", "Cli work")
    done = studio(cli_env, *assign, "--task", "write", "--to", "ann@example.org",
                  "--status", "draft", "--due", "2027-01-31")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "assigned write on 2 of 2 items to ann@example.org" in done.stdout
    assert _rows(engine) == [(ids[0], "write"), (ids[1], "write")]

    back = studio(cli_env, "projects", "assign", "Cli work", "--task", "write",
                  "--item", str(ids[0]), "--unassign")  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert _rows(engine) == [(ids[1], "write")]
    with Session(engine) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("assignment.%"))
        ).all()
    assert [e.action for e in events] == ["assignment.added"] * 2 + ["assignment.removed"]
    assert {e.actor_label for e in events} == {"root@example.org"}

    refused = studio(cli_env, "projects", "assign", "Cli work", "--task", "review",
                     "--to", "ann@example.org", "--item", str(ids[2]))  # fmt: skip
    assert refused.returncode == 1
    assert "ann@example.org is an annotator here" in refused.stderr
    bad = studio(cli_env, "projects", "assign", "Cli work", "--task", "write",
                 "--to", "ann@example.org")  # fmt: skip
    assert bad.returncode == 2 and "--item" in bad.stderr
