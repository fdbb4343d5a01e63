"""Pre-flight checks over the JSON API: asked for and read by admins (the people who launch),
refused exactly as the launch of the same settings; taken by workers before jobs, only by a
worker whose device runs them, answered only by the token that took them, and failed when
the worker goes quiet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.core.job_paths import API_ROOT, WorkerPath
from app.jobs import preflight
from app.models import Preflight
from app.models.base import utcnow
from tests.api_helpers import bearer, member, outsider, refused
from tests.job_factories import error_sentence, run_job
from tests.pair_factories import model_folder, pairs_version
from tests.preflight_factories import H100, PreflightApi, report_body
from tests.test_route_access import access_level, api_routes

CPU = {"kind": "cpu", "name": "Test CPU", "memory_bytes": 16 * 1024**3, "bf16": True}


@pytest.fixture
def api(client, db_session) -> PreflightApi:
    return PreflightApi(client, db_session)


def _age(session, check_id: int, **columns) -> None:
    session.execute(update(Preflight).where(Preflight.id == check_id).values(**columns))
    session.commit()


class TestAsking:
    def test_an_admin_asks_and_reads_a_queued_check(self, api):
        response = api.ask()
        assert response.status_code == 202, response.text
        check = response.json()
        assert check["status"] == "queued" and check["report"] is None and check["error"] is None
        assert check["dataset_version_id"] == api.version.id and check["base_model"] == "tiny"
        assert check["params"]["max_steps"] == 5
        read = api.read(check["id"])
        assert read.status_code == 200 and read.json()["status"] == "queued"

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"method": "full", "quantization": "4bit"}, "4-bit loading is for LoRA"),
            ({"method": "lora", "quantization": "4bit"}, "No worker has reported in"),
            ({"objective": "dpo"}, "holds no preference pairs"),
            ({"learning_rate": -1}, "learning_rate"),
        ],
    )
    def test_settings_a_launch_refuses_are_refused_with_the_same_answer(self, api, params, field):
        launched = api.client.post(f"{API_ROOT}/jobs", headers=api.admin, json=api.body(**params))
        checked = api.ask(**params)
        assert launched.status_code == checked.status_code == 422
        assert checked.json() == launched.json()
        assert field in error_sentence(checked)

    def test_a_manager_elsewhere_neither_sees_the_check_nor_checks_the_version(
        self, api, db_session
    ):
        check_id = api.asked()
        other = PreflightApi(api.client, db_session, name="Elsewhere")
        elsewhere = member(db_session, other.project, "manager")
        refused(api.read(check_id, elsewhere), 404, "not_found")
        asked = api.ask(elsewhere)
        launched = api.client.post(f"{API_ROOT}/jobs", headers=elsewhere, json=api.body())
        assert asked.status_code == launched.status_code == 422
        assert asked.json() == launched.json()
        assert error_sentence(asked) == "dataset_version_id: Invalid."
        refused(api.read(check_id, outsider(db_session)), 403, "forbidden")  # manages nothing

    @pytest.mark.parametrize("role", ["annotator", "reviewer"])
    def test_people_who_do_not_launch_are_refused(self, api, db_session, role):
        check_id = api.asked()
        headers = member(db_session, api.project, role)
        refused(api.ask(headers), 403, "forbidden")
        refused(api.read(check_id, headers), 403, "forbidden")
        refused(api.read(check_id, api.worker()), 403, "forbidden")

    def test_a_newer_check_replaces_the_older_waiting_one(self, api):
        first, second = api.asked(), api.asked(max_steps=7)
        old = api.read(first).json()
        assert old["status"] == "failed" and old["error"] == preflight.REPLACED
        assert api.read(second).json()["status"] == "queued"


class TestWorkers:
    def test_a_worker_takes_the_check_and_reads_its_version_while_it_runs(self, api):
        check_id = api.asked()
        worker, stranger = api.worker(), api.worker()
        claimed = api.claim(worker, CPU)
        assert claimed.status_code == 200, claimed.text
        spec = claimed.json()
        assert spec["preflight_id"] == check_id and spec["dataset_version_id"] == api.version.id
        assert spec["base_model"] == "tiny" and spec["params"]["max_steps"] == 5
        assert spec["steps"] == 4 and spec["start_from"] is None
        assert api.read(check_id).json()["status"] == "running"
        manifest = API_ROOT + WorkerPath.MANIFEST.format(version_id=api.version.id)
        assert api.client.get(manifest, headers=worker).status_code == 200
        assert api.client.get(manifest, headers=stranger).status_code == 403
        assert api.claim(stranger, CPU).status_code == 204  # one worker per check

    def test_only_a_device_that_runs_the_check_gets_it(self, api):
        gpu, cpu, old = api.worker(), api.worker(), api.worker()
        assert api.claim(gpu, H100, name="gpu").status_code == 204  # reports in: it has 4-bit
        check_id = api.asked(method="lora", quantization="4bit")
        assert api.claim(cpu, CPU, name="cpu").status_code == 204
        assert api.claim(old, None, name="old").status_code == 204  # reports no device
        taken = api.claim(gpu, H100, name="gpu")
        assert taken.status_code == 200 and taken.json()["preflight_id"] == check_id

    def test_a_check_waits_for_a_worker_that_takes_checks(self, api):
        """A worker that only claims jobs (one older than checks) leaves a check queued."""
        check_id = api.asked()
        job = api.client.post(
            API_ROOT + WorkerPath.CLAIM, headers=api.worker(), json={"worker": "old"}
        )
        assert job.status_code == 204
        assert api.read(check_id).json()["status"] == "queued"

    def test_only_the_token_that_took_the_check_answers_for_it(self, api):
        check_id = api.asked()
        worker, stranger = api.worker(), api.worker()
        api.claim(worker, CPU)
        body = report_body(api.train_item())
        for fail, payload in ((False, body), (True, {"error": "I was not asked."})):
            answer = api.answer(stranger, check_id, payload, fail=fail)
            refused(answer, 403, "forbidden")
            assert "only the token that took it" in error_sentence(answer)
        assert api.read(check_id).json()["status"] == "running"
        done = api.answer(worker, check_id, body)
        assert done.status_code == 200, done.text
        check = api.read(check_id).json()
        assert check["status"] == "succeeded" and check["report"]["example"]["tokens"][1]["loss"]
        assert check["report"]["timing"]["estimated_seconds"] == pytest.approx(1240 * 0.68)
        again = api.answer(worker, check_id, {"error": "late"}, fail=True)
        refused(again, 409, "conflict")
        assert api.read(check_id).json()["status"] == "succeeded"

    def test_a_failure_keeps_the_workers_sentence(self, api):
        check_id = api.asked()
        worker = api.worker()
        api.claim(worker, CPU)
        sentence = "RuntimeError: Could not load the base model 'org/name'."
        assert api.answer(worker, check_id, {"error": sentence}, fail=True).status_code == 200
        check = api.read(check_id).json()
        assert check["status"] == "failed" and check["error"] == sentence
        assert check["report"] is None

    def test_a_report_is_bounded_and_names_an_item_of_the_version(self, api, db_session):
        check_id = api.asked()
        worker = api.worker()
        api.claim(worker, CPU)
        stranger = PreflightApi(api.client, db_session, name="Other items").train_item()
        refused(api.answer(worker, check_id, report_body(stranger)), 422, "invalid")
        too_long = report_body(api.train_item(), text="x" * 65)
        assert api.answer(worker, check_id, too_long).status_code == 422
        no_pace = report_body(api.train_item(), seconds_per_step=0)
        assert api.answer(worker, check_id, no_pace).status_code == 422
        assert api.read(check_id).json()["status"] == "running"  # nothing was recorded

    def test_a_quiet_worker_loses_the_check(self, api, db_session):
        check_id = api.asked()
        worker = api.worker()
        api.claim(worker, CPU)
        _age(db_session, check_id, lease_until=utcnow() - timedelta(seconds=1))
        check = api.read(check_id).json()
        assert check["status"] == "failed" and check["error"] == "The worker stopped answering."
        refused(api.answer(worker, check_id, report_body(api.train_item())), 409, "conflict")

    def test_a_check_no_worker_takes_within_an_hour_fails(self, api, db_session):
        check_id = api.asked()
        _age(db_session, check_id, created_at=utcnow() - timedelta(hours=2))
        assert api.claim(api.worker(), CPU).status_code == 204
        check = api.read(check_id).json()
        assert check["status"] == "failed" and check["error"] == preflight.NOT_TAKEN


def test_the_new_routes_are_walked_at_their_levels(app):
    """The route walk (tests/test_route_access.py) covers every route; these are at the
    launch's level (managers) or the workers'."""
    levels = {
        (method, route.path): access_level(route)
        for route in api_routes(app)
        for method in route.methods
        if "preflight" in route.path
    }
    assert levels == {
        ("POST", "/api/v1/preflights"): "manager",
        ("GET", "/api/v1/preflights/{preflight_id}"): "manager",
        ("POST", "/api/v1/worker/preflights/claim"): "worker",
        ("POST", "/api/v1/worker/preflights/{preflight_id}/report"): "worker",
        ("POST", "/api/v1/worker/preflights/{preflight_id}/fail"): "worker",
        ("POST", "/jobs/preflights"): "manager",
        ("GET", "/jobs/preflights/{preflight_id}"): "manager",
    }


def test_a_check_of_a_continued_job_starts_from_its_parent(client, db_session, settings):
    """Like a launch, the check trains on the parent's base model and starts from its folder;
    naming another base model is refused as the launch refuses it."""
    _project, admin, version = pairs_version(db_session, "Continued")
    parent, _ = run_job(db_session, version, admin)
    model_folder(settings, parent)
    api = PreflightApi(client, db_session, name="Unused")
    api.version, api.admin = version, bearer(db_session, admin)
    body = {"dataset_version_id": version.id, "start_job_id": parent.id,
            "params": {"objective": "dpo", "max_steps": 2}}  # fmt: skip
    asked = client.post(f"{API_ROOT}/preflights", headers=api.admin, json=body)
    assert asked.status_code == 202, asked.text
    assert asked.json()["base_model"] == parent.base_model
    assert asked.json()["start_job_id"] == parent.id
    spec = api.claim(api.worker(), CPU).json()
    assert spec["start_from"]["job_id"] == parent.id
    assert spec["start_from"]["artifact_dir"].endswith(f"jobs/{parent.id}")
    other = {**body, "base_model": "org/another"}
    checked = client.post(f"{API_ROOT}/preflights", headers=api.admin, json=other)
    launched = client.post(f"{API_ROOT}/jobs", headers=api.admin, json=other)
    assert checked.status_code == launched.status_code == 422
    assert checked.json() == launched.json()
