"""Two workers claiming at once get one job between them, on SQLite and PostgreSQL, and the
job records the winner's token."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core.protocol import JobParams
from app.datasets import freezing
from app.datasets.versions import VersionFilter
from app.jobs import queue
from app.jobs import service as jobs
from tests.dataset_factories import approved_project
from tests.helpers import in_parallel
from tests.job_factories import worker_token


def test_two_workers_one_job(committed):
    with Session(committed, expire_on_commit=False) as session:
        project, admin, _ = approved_project(session, name="Claims")
        version = freezing.create_version(
            session=session, project=project, name="v", f=VersionFilter(), actor=admin
        )
        job = jobs.launch(
            session=session,
            version_id=version.id,
            base_model="tiny",
            params=JobParams(max_steps=3),
            actor=admin,
        )
        tokens = [worker_token(session, "w0"), worker_token(session, "w1")]
        session.commit()
    results = in_parallel(
        committed, lambda s, i: queue.claim(session=s, worker=f"w{i}", token_id=tokens[i])
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].id == job.id and winners[0].attempts == 1
    assert winners[0].claim_token_id == tokens[results.index(winners[0])]


def test_two_workers_one_preflight_check(committed):
    """The pre-flight claim is the job claim's rule: one conditional UPDATE, one winner."""
    from app.jobs import preflight

    with Session(committed, expire_on_commit=False) as session:
        project, admin, _ = approved_project(session, name="Check claims")
        version = freezing.create_version(
            session=session, project=project, name="v", f=VersionFilter(), actor=admin
        )
        check = preflight.create(
            session=session,
            version_id=version.id,
            base_model="tiny",
            params=JobParams(max_steps=3),
            actor=admin,
        )
        tokens = [worker_token(session, "w0"), worker_token(session, "w1")]
        session.commit()
    results = in_parallel(
        committed, lambda s, i: preflight.claim(session=s, worker=f"w{i}", token_id=tokens[i])
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].id == check.id and winners[0].status == "running"
    assert winners[0].claim_token_id == tokens[results.index(winners[0])]
