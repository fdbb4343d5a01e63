"""/metrics: who may read it, what it reports, and how the processes of `studio serve
--workers N` are added up.

In-process tests share the process's default registry with every other test, so they compare
a scrape before and after what they do rather than absolute counts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from app import metrics
from app.core import job_paths, protocol
from app.jobs import service as jobs
from app.models import BackgroundTask, DatasetVersionItem
from app.models.base import utcnow
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.conftest import live_backend
from tests.dbs import fresh_database
from tests.factories import make_token
from tests.job_factories import project_version
from tests.live_server import STUDIO, Server

DURATION = "studio_http_request_duration_seconds"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) → value, from an exposition."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def label_values(text: str) -> set[str]:
    """Every label value in an exposition: where a path segment would leak, if it did. (A
    sample's value or a timestamp may contain any run of digits.)"""
    return {value for _, labels in samples(text) for _, value in labels}


def requests_of(text: str, method: str, route: str, status: str) -> float:
    found = value(text, f"{DURATION}_count", method=method, route=route, status=status)
    return found or 0.0


@pytest.fixture
def scrape(client, db_session, admin_user):
    """Read /metrics as a Prometheus scraper does: an admin's API token."""
    headers = {"Authorization": f"Bearer {make_token(db_session, scope='user', owner=admin_user)}"}

    def read() -> str:
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return response.text

    read.headers = headers
    return read


class TestAccess:
    def test_anonymous_callers_are_sent_to_sign_in(self, client):
        response = client.get("/metrics")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")

    def test_people_below_admin_and_worker_tokens_are_refused(
        self, client, db_session, annotator_user, reviewer_user
    ):
        for token in (
            make_token(db_session, scope="user", owner=annotator_user),
            make_token(db_session, scope="user", owner=reviewer_user),
            make_token(db_session, scope="worker"),
        ):
            response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 403
            assert DURATION not in response.text

    def test_openmetrics_is_answered_when_asked_for(self, client, scrape):
        response = client.get(
            "/metrics", headers={**scrape.headers, "Accept": "application/openmetrics-text"}
        )
        assert response.headers["content-type"].startswith("application/openmetrics-text")
        assert response.text.endswith("# EOF\n")


class TestRequestDuration:
    def test_a_request_is_counted_under_its_route(self, client, scrape):
        before = scrape()
        assert client.get("/healthz").status_code == 200
        after = scrape()
        assert requests_of(after, "GET", "/healthz", "2xx") == (
            requests_of(before, "GET", "/healthz", "2xx") + 1
        )
        assert re.search(rf'^{DURATION}_bucket{{[^}}]*route="/healthz"[^}}]*}} ', after, re.M)

    def test_paths_with_ids_are_labelled_by_template_and_status_class(self, client, scrape):
        before = scrape()
        missing = client.get("/api/v1/items/987654", headers=scrape.headers)
        assert missing.status_code == 404
        after = scrape()
        route = "/api/v1/items/{item_id}"
        assert (
            requests_of(after, "GET", route, "4xx") == requests_of(before, "GET", route, "4xx") + 1
        )
        assert not any("987654" in label for label in label_values(after))

    def test_unknown_paths_share_one_label(self, client, scrape):
        before = scrape()
        for path in ("/no/such/page", "/another/unknown/4242"):
            assert client.get(path).status_code == 404
        after = scrape()
        gained = requests_of(after, "GET", "unmatched", "4xx") - requests_of(
            before, "GET", "unmatched", "4xx"
        )
        assert gained == 2
        assert not any("4242" in label for label in label_values(after))

    def test_answers_before_routing_and_static_files_keep_their_route(self, client, scrape):
        """An anonymous body is refused before the router runs (app.limits); a static file is
        served by a mount. Both are still named by template."""
        claim = "/api/v1" + job_paths.WorkerPath.CLAIM
        before = scrape()
        assert client.post(claim, json={"worker": "w"}).status_code == 401
        assert client.get("/static/css/studio.css").status_code == 200
        after = scrape()
        assert (
            requests_of(after, "POST", claim, "4xx")
            == requests_of(before, "POST", claim, "4xx") + 1
        )
        static = "/static/{path}"
        assert (
            requests_of(after, "GET", static, "2xx")
            == requests_of(before, "GET", static, "2xx") + 1
        )

    def test_unusual_methods_do_not_make_new_labels(self, client, scrape):
        before = scrape()
        assert client.request("BREW", "/healthz").status_code == 405
        after = scrape()
        assert 'method="BREW"' not in after
        gained = requests_of(after, "other", "/healthz", "4xx") - requests_of(
            before, "other", "/healthz", "4xx"
        )
        assert gained == 1


class TestQueueGauges:
    def test_queued_and_running_background_tasks(self, db_session, admin_user, scrape):
        project = projects.create_project(
            session=db_session, data=ProjectInput(name="Gauged"), actor=admin_user
        )
        before = scrape()
        queued_before = value(before, "studio_background_tasks", state="queued")
        running_before = value(before, "studio_background_tasks", state="running")
        db_session.add(BackgroundTask(kind="freeze", project_id=project.id, state="queued"))
        beat = utcnow() - timedelta(seconds=90)
        db_session.add(
            BackgroundTask(kind="freeze", project_id=project.id, state="running", heartbeat_at=beat)
        )
        db_session.flush()
        after = scrape()
        assert value(after, "studio_background_tasks", state="queued") == queued_before + 1
        assert value(after, "studio_background_tasks", state="running") == running_before + 1
        age = value(after, "studio_background_last_heartbeat_age_seconds")
        assert age is not None and 90 <= age < 90 + 3600

    def test_training_jobs_and_the_shortest_lease(self, db_session, scrape):
        idle = scrape()
        assert value(idle, "studio_training_jobs", status="queued") == 0
        assert value(idle, "studio_training_jobs", status="running") == 0
        assert value(idle, "studio_training_jobs_lease_seconds_left") is None  # nothing runs
        assert value(idle, "studio_background_last_heartbeat_age_seconds") is None
        _, admin, version = project_version(db_session, name="Leased")
        launched = [
            jobs.launch(
                session=db_session,
                version_id=version.id,
                base_model="tiny",
                params=protocol.JobParams(),
                actor=admin,
            )
            for _ in range(3)
        ]
        for job, minutes in zip(launched[:2], (30, 10), strict=True):
            job.status = "running"
            job.lease_until = utcnow() + timedelta(minutes=minutes)
        db_session.flush()
        text = scrape()
        assert value(text, "studio_training_jobs", status="queued") == 1
        assert value(text, "studio_training_jobs", status="running") == 2
        left = value(text, "studio_training_jobs_lease_seconds_left")
        assert left is not None and 0 < left <= 600  # the ten-minute lease, not the other


class TestWorkCounters:
    def test_import_rows_are_counted_valid_or_not(self, client, db_session, admin_user, scrape):
        project = projects.create_project(
            session=db_session, data=ProjectInput(name="Counted import"), actor=admin_user
        )
        lines = [json.dumps({"instruction": f"Count {i}.", "output": str(i)}) for i in range(6)]
        lines[2] = "not json"
        before = value(scrape(), "studio_import_rows_total") or 0
        response = client.post(
            f"/api/v1/projects/{project.id}/imports",
            headers=scrape.headers,
            data={"mode": "valid_rows"},
            files={"file": ("c.jsonl", "\n".join(lines).encode())},
        )
        assert response.status_code == 202, response.text
        assert client.app.state.background.run_one() == response.json()["task_id"]
        assert value(scrape(), "studio_import_rows_total") == before + 6

    def test_exported_items_are_counted(self, client, db_session, scrape):
        _, _, version = project_version(db_session, name="Counted export")
        items = db_session.scalar(
            select(func.count())
            .select_from(DatasetVersionItem)
            .where(DatasetVersionItem.version_id == version.id)
        )
        assert items > 0
        before = value(scrape(), "studio_export_items_total") or 0
        download = client.get(
            f"/api/v1/datasets/{version.id}/export?format=alpaca_jsonl", headers=scrape.headers
        )
        assert download.status_code == 200
        assert value(scrape(), "studio_export_items_total") == before + items


# --- several processes --------------------------------------------------------------------

RECORD = """
import sys
from app import metrics
assert metrics.MULTIPROCESS, "PROMETHEUS_MULTIPROC_DIR was not seen"
requests, rows = int(sys.argv[1]), int(sys.argv[2])
for _ in range(requests):
    metrics.REQUEST_DURATION.labels("GET", "/login", "2xx").observe(0.01)
metrics.IMPORT_ROWS.inc(rows)
"""


def _record_in_a_process(folder: Path, requests: int, rows: int) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    subprocess.run(
        [sys.executable, "-c", RECORD, str(requests), str(rows)], env=env, check=True, timeout=120
    )


def test_the_folder_collector_adds_up_processes(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    _record_in_a_process(folder, 3, 10)
    _record_in_a_process(folder, 4, 5)
    assert len(list(folder.glob("histogram_*.db"))) == 2  # one file per process
    from prometheus_client import generate_latest

    text = generate_latest(metrics.folder_collector(folder)).decode()
    assert requests_of(text, "GET", "/login", "2xx") == 7
    assert value(text, "studio_import_rows_total") == 15
    (folder / "notes.txt").write_text("kept")
    assert metrics.clear_folder(folder) == 4  # a counter and a histogram file per process
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


@pytest.mark.live
def test_serve_with_two_workers_reports_every_process(tmp_path):
    """`studio serve --workers 2`: files from an earlier start are cleared, and each scrape,
    whichever worker answers it, counts every request."""
    with fresh_database(live_backend(), tmp_path) as url:
        env = {
            **os.environ,
            "STUDIO_DATABASE_URL": url,
            "STUDIO_VAR_DIR": str(tmp_path / "var"),
            "STUDIO_ADMIN_EMAIL": "boss@example.org",
            "STUDIO_ADMIN_PASSWORD": "a-long-admin-password",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        subprocess.run([STUDIO, "setup"], env=env, cwd=tmp_path, check=True, timeout=120)
        token = subprocess.run(
            [STUDIO, "tokens", "create", "--name", "prometheus", "--scope", "user"]
            + ["--email", "boss@example.org"],
            env=env,
            cwd=tmp_path,
            check=True,
            timeout=120,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        stale = tmp_path / "var" / "metrics"
        stale.mkdir(parents=True)
        _record_in_a_process(stale, 5, 0)  # an earlier start's process, long gone
        server = Server(env, tmp_path, command="serve", options=("--workers", "2"))
        try:
            server.wait()
            for _ in range(12):  # a new connection each time: the workers share them out
                assert httpx.get(f"{server.url}/login").status_code == 200
            auth = {"Authorization": f"Bearer {token}"}
            for _ in range(4):
                response = httpx.get(f"{server.url}/metrics", headers=auth)
                assert response.status_code == 200, response.text
                assert requests_of(response.text, "GET", "/login", "2xx") == 12
            assert len(list(stale.glob("histogram_*.db"))) == 2  # both workers write there
        finally:
            server.stop()
