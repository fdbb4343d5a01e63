"""Options a device cannot run are refused at launch with a sentence (API 422, the form's
alert), and a worker handed one anyway fails the job with a sentence instead of crashing; the
launch form's memory and precision choices go through to the job."""

from __future__ import annotations

import re
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.core.devices import WorkerDevice
from app.core.job_paths import API_ROOT
from app.core.protocol import JobParams
from app.jobs import service as jobs
from app.jobs import workers
from app.models import Job
from tests.api_helpers import bearer
from tests.helpers import login
from tests.job_factories import project_version
from tests.test_worker_device import CPU, H100, T4
from trainer.client import AppClient
from trainer.worker import serve

FOR_LORA = "4-bit loading is for LoRA: a full fine-tune trains every weight"
NO_FOUR_BIT = (
    "No worker that has reported in can load 4-bit weights: 4-bit needs a CUDA GPU with "
    "bitsandbytes (pip install '.[qlora]'); the workers seen have: "
)
NONE_SEEN = "No worker has reported in within the last day, so none is known to load 4-bit"
NO_BF16 = "No worker that has reported in computes in bf16"


@pytest.fixture
def setup(db_session):
    return project_version(db_session, "Device checks")


def _launch(client, db_session, admin, version, **params):
    payload = {"dataset_version_id": version.id, "base_model": "tiny", "params": params}
    return client.post(API_ROOT + "/jobs", headers=bearer(db_session, admin), json=payload)


def _seen(db_session, **devices: WorkerDevice) -> None:
    for name, device in devices.items():
        workers.record(session=db_session, name=name, device=device)
    db_session.commit()


class TestTheApiRefuses:
    def test_4bit_with_a_full_fine_tune(self, client, db_session, setup):
        _, admin, version = setup
        _seen(db_session, gpu=H100)
        response = _launch(client, db_session, admin, version, method="full", quantization="4bit")
        assert response.status_code == 422
        assert response.json()["detail"].startswith(FOR_LORA)

    def test_4bit_when_no_worker_has_reported_in(self, client, db_session, setup):
        _, admin, version = setup
        response = _launch(client, db_session, admin, version, method="lora", quantization="4bit")
        assert response.status_code == 422 and response.json()["detail"].startswith(NONE_SEEN)

    def test_4bit_naming_what_the_workers_seen_have(self, client, db_session, setup):
        _, admin, version = setup
        _seen(db_session, cpu=CPU, t4=T4)
        response = _launch(client, db_session, admin, version, method="lora", quantization="4bit")
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert detail.startswith(NO_FOUR_BIT)
        assert "CUDA Tesla T4 (15 GiB, no bf16, no bitsandbytes)" in detail
        assert "CPU (AMD EPYC 7B13, 24 GiB)" in detail
        assert db_session.scalar(select(Job.id)) is None

    def test_4bit_when_the_only_able_worker_was_seen_days_ago(self, client, db_session, setup):
        _, admin, version = setup
        _seen(db_session, gpu=H100)
        gone = workers.seen(session=db_session)[0]
        gone.seen_at = gone.seen_at - workers.SEEN_WITHIN * 2
        db_session.commit()
        response = _launch(client, db_session, admin, version, method="lora", quantization="4bit")
        assert response.status_code == 422 and response.json()["detail"].startswith(NONE_SEEN)

    def test_bf16_asked_by_name_where_no_worker_computes_in_it(self, client, db_session, setup):
        _, admin, version = setup
        _seen(db_session, t4=T4)
        response = _launch(client, db_session, admin, version, precision="bf16")
        assert response.status_code == 422 and response.json()["detail"].startswith(NO_BF16)
        # The automatic choice runs there (in fp32).
        assert _launch(client, db_session, admin, version, precision="auto").status_code == 201


class TestTheApiQueues:
    def test_the_defaults_before_any_worker_has_reported_in(self, client, db_session, setup):
        _, admin, version = setup
        response = _launch(client, db_session, admin, version, max_steps=3)
        assert response.status_code == 201, response.text
        assert response.json()["params"]["precision"] == "auto"

    def test_4bit_and_bf16_once_a_worker_that_has_them_reported_in(self, client, db_session, setup):
        _, admin, version = setup
        _seen(db_session, cpu=CPU, gpu=H100)
        response = _launch(
            client,
            db_session,
            admin,
            version,
            method="lora",
            quantization="4bit",
            precision="bf16",
            gradient_checkpointing=True,
        )
        assert response.status_code == 201, response.text
        params = response.json()["params"]
        assert (params["quantization"], params["precision"]) == ("4bit", "bf16")
        assert params["gradient_checkpointing"] is True


class TestTheForm:
    def _post(self, client, csrf, version, **fields):
        data = {"csrf_token": csrf, "dataset_version_id": version.id, "base_model": "tiny"}
        return client.post("/jobs", data={**data, "epochs": "2", **fields})

    def test_the_section_starts_at_the_defaults(self, client, db_session, setup):
        _, admin, version = setup
        login(client, admin.email)
        page = client.get("/jobs/new", params={"version_id": version.id})
        section = page.text.split('id="memory-params"')[1].split("</details>")[0]
        assert re.search(r'<option value="auto" selected>', section)
        assert 'name="gradient_checkpointing"' in section and 'name="precision"' in section
        assert re.search(r'name="quantization" value="4bit"\s*>', section)  # not checked
        assert not page.text.split('id="memory-params"')[1].startswith(" open")

    def test_4bit_refused_says_why_and_keeps_every_choice(self, client, db_session, setup):
        _, admin, version = setup
        _seen(db_session, cpu=CPU.model_copy(update={"name": "<b>Xeon</b>"}))
        csrf = login(client, admin.email)
        response = self._post(
            client,
            csrf,
            version,
            method="lora",
            precision="bf16",
            gradient_checkpointing="off",
            quantization="4bit",
        )
        assert response.status_code == 422
        alert = re.search(r'id="launch-errors">(.*?)</p>', response.text, re.S).group(1)
        assert "No worker that has reported in can load 4-bit weights" in alert
        assert "&lt;b&gt;Xeon&lt;/b&gt;" in alert and "<b>Xeon" not in alert  # escaped
        assert 'id="quantization-error"' in response.text
        section = response.text.split('id="memory-params"')[1].split("</details>")[0]
        assert response.text.split('id="memory-params"')[1].startswith(" open")
        assert '<option value="bf16" selected>' in section
        assert '<option value="off" selected>' in section
        assert re.search(r'name="quantization" value="4bit" checked', section)
        assert db_session.scalar(select(Job.id)) is None

    def test_4bit_with_a_full_fine_tune_is_refused_in_the_form_too(self, client, db_session, setup):
        _, admin, version = setup
        _seen(db_session, gpu=H100)
        csrf = login(client, admin.email)
        response = self._post(client, csrf, version, method="full", quantization="4bit")
        assert response.status_code == 422
        alert = re.search(r'id="launch-errors">(.*?)</p>', response.text, re.S).group(1)
        assert FOR_LORA in alert.replace("&#39;", "'")

    def test_the_choices_reach_the_job(self, client, db_session, setup):
        _, admin, version = setup
        _seen(db_session, gpu=H100)
        csrf = login(client, admin.email)
        response = self._post(
            client,
            csrf,
            version,
            method="lora",
            precision="bf16",
            gradient_checkpointing="on",
            quantization="4bit",
        )
        assert response.status_code == 303, response.text
        job = db_session.scalar(select(Job).where(Job.dataset_version_id == version.id))
        assert job.params["precision"] == "bf16" and job.params["quantization"] == "4bit"
        assert job.params["gradient_checkpointing"] is True
        plain = self._post(client, csrf, version, gradient_checkpointing="auto")
        assert plain.status_code == 303
        newest = db_session.scalars(select(Job).order_by(Job.id.desc())).first()
        assert newest.params["gradient_checkpointing"] is None
        assert newest.params["quantization"] == "none"

    def test_an_unknown_choice_is_marked(self, client, db_session, setup):
        _, admin, version = setup
        csrf = login(client, admin.email)
        response = self._post(client, csrf, version, gradient_checkpointing="sometimes")
        assert response.status_code == 422
        assert 'id="gradient_checkpointing-error"' in response.text
        response = self._post(client, csrf, version, precision="fp8")
        assert response.status_code == 422 and 'id="precision-error"' in response.text


class ClaimsFourBit(AppClient):
    """A worker whose report says it loads 4-bit weights (as a GPU worker's would), running on
    this machine's CPU: the app hands it a 4-bit job, and the worker must refuse it itself."""

    def claim(self, worker, device=None, *kinds):
        return super().claim(worker, device.model_copy(update={"four_bit": True}), *kinds)


def test_a_cpu_worker_given_a_4bit_job_fails_it_with_a_sentence(app, db_session, settings):
    from app.tokens import service as tokens

    project, admin, version = project_version(db_session, "4-bit on a CPU")
    token = tokens.create_token(
        session=db_session, name="w", scope="worker", owner=None, actor=None
    ).raw
    worker = ClaimsFourBit("http://testserver", token)
    worker.http = TestClient(
        app, base_url="http://testserver" + API_ROOT, headers={"Authorization": f"Bearer {token}"}
    )
    db_session.commit()
    serve("http://testserver", token, once=True, client=worker)  # nothing queued: it reports
    job = jobs.launch(
        session=db_session,
        version_id=version.id,
        base_model="tiny",
        params=JobParams(method="lora", quantization="4bit", max_steps=2),
        actor=admin,
    )
    db_session.commit()
    serve("http://testserver", token, once=True, client=worker)
    db_session.expire_all()
    failed = db_session.get(Job, job.id)
    assert failed.status == "failed"
    assert failed.error.startswith(
        "4-bit loading needs a CUDA GPU and the bitsandbytes package (pip install '.[qlora]'); "
        "this worker has: CPU ("
    )
    assert "Traceback" not in failed.error and "CannotRun" not in failed.error
    assert "bitsandbytes" not in sys.modules  # never imported for a job it refused
