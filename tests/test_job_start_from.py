"""Continuing from a finished job: the job to continue from checked (its project, its status,
its model folder, the weights a chain of jobs starts from), the launch form's choice, the audit
event and retry, and the spec a worker claims."""

from __future__ import annotations

import re
import shutil

import pytest
from sqlalchemy import select

from app.core.protocol import JobParams
from app.errors import InvalidInput
from app.jobs import service as jobs
from app.jobs import start as jobs_start
from app.models import AuditEvent, Job
from tests.api_helpers import bearer
from tests.helpers import login
from tests.job_factories import project_version, run_job
from tests.pair_factories import model_folder, pairs_version


@pytest.fixture
def mixed(db_session):
    """A version of SFT items and six pairs: (project, admin, version)."""
    return pairs_version(db_session, "Mixed")


@pytest.fixture
def plain(db_session):
    """A version without pairs."""
    return project_version(db_session, "Plain")


class TestStartFrom:
    @pytest.fixture
    def parent(self, db_session, mixed, settings):
        """A finished SFT job of the mixed version's project, with its model folder."""
        _, admin, version = mixed
        job, _ = run_job(db_session, version, admin)
        model_folder(settings, job)
        return job

    def _launch(self, db_session, version, admin, start_job_id, settings, **kw):
        return jobs.launch(
            session=db_session,
            version_id=version.id,
            base_model=kw.pop("base_model", None),
            params=JobParams(objective="dpo", max_steps=2),
            actor=admin,
            start_job_id=start_job_id,
            artifacts_root=settings.resolved_artifacts_dir,
        )

    def test_continues_on_the_parents_base_model(self, db_session, mixed, parent, settings):
        _, admin, version = mixed
        job = self._launch(db_session, version, admin, parent.id, settings)
        assert (job.start_job_id, job.base_model) == (parent.id, parent.base_model)
        event = db_session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "job.launched", AuditEvent.entity_id == str(job.id)
            )
        )
        assert event.after["start_job"] == parent.id and event.after["objective"] == "dpo"
        jobs.cancel(session=db_session, job_id=job.id, actor=admin)  # queued: cancelled now
        retried = jobs.retry(
            session=db_session,
            job_id=job.id,
            actor=admin,
            artifacts_root=settings.resolved_artifacts_dir,
        )
        assert retried.start_job_id == parent.id and retried.parent_id == job.id

    def test_another_base_model_is_refused(self, db_session, mixed, parent, settings):
        _, admin, version = mixed
        with pytest.raises(InvalidInput) as refused:
            self._launch(db_session, version, admin, parent.id, settings, base_model="org/other")
        assert refused.value.text == (
            f"Job #{parent.id} was trained on tiny; a job that continues from it trains on the "
            "same base model (leave the base model out)."
        )
        same = self._launch(db_session, version, admin, parent.id, settings, base_model="tiny")
        assert same.start_job_id == parent.id

    def test_a_job_of_another_project_is_refused(self, db_session, mixed, plain, settings):
        _, other_admin, other_version = plain
        stranger, _ = run_job(db_session, other_version, other_admin)
        model_folder(settings, stranger)
        _, admin, version = mixed
        with pytest.raises(InvalidInput) as refused:
            self._launch(db_session, version, admin, stranger.id, settings)
        assert refused.value.text == (
            f"Job #{stranger.id} is not a job of this dataset version's project; a job "
            "continues from a job of its own project."
        )
        with pytest.raises(InvalidInput):
            self._launch(db_session, version, admin, 2**31 - 1, settings)

    def test_an_unfinished_job_is_refused(self, db_session, mixed, settings):
        _, admin, version = mixed
        running, _ = run_job(db_session, version, admin, finish=False)
        with pytest.raises(InvalidInput) as refused:
            self._launch(db_session, version, admin, running.id, settings)
        assert refused.value.text == (
            f"Job #{running.id} has not succeeded (it is running); a job continues from a job "
            "that finished with a model."
        )

    def test_a_job_without_its_model_folder_is_refused(self, db_session, mixed, settings):
        _, admin, version = mixed
        done, _ = run_job(db_session, version, admin)
        with pytest.raises(InvalidInput) as refused:
            self._launch(db_session, version, admin, done.id, settings)
        assert "model folder is missing" in refused.value.text
        # A tiny job's tuned weights load onto the base it built: that folder must be there too.
        model_folder(settings, done, base=False)
        with pytest.raises(InvalidInput):
            self._launch(db_session, version, admin, done.id, settings)
        (settings.resolved_artifacts_dir / "jobs" / str(done.id) / "base").mkdir()
        assert self._launch(db_session, version, admin, done.id, settings).start_job_id == done.id

    def test_a_chain_finds_its_weights_where_the_trainer_does(
        self, db_session, mixed, parent, settings
    ):
        # A LoRA job that continued from another builds no base: its adapter goes on the
        # model of the job it started from. A full fine-tune's folder holds the whole model.
        _, admin, version = mixed
        dpo = self._launch(db_session, version, admin, parent.id, settings)
        dpo.status = "succeeded"
        model_folder(settings, dpo, base=False)
        db_session.flush()
        assert jobs_start.has_model(dpo, settings.resolved_artifacts_dir)
        again = self._launch(db_session, version, admin, dpo.id, settings)
        assert again.start_job_id == dpo.id
        shutil.rmtree(settings.resolved_artifacts_dir / "jobs" / str(parent.id) / "base")
        assert not jobs_start.has_model(dpo, settings.resolved_artifacts_dir)
        dpo.params = {**dpo.params, "method": "full"}
        assert jobs_start.has_model(dpo, settings.resolved_artifacts_dir)

    def test_api_and_the_spec_a_worker_claims(self, client, db_session, mixed, parent, settings):
        _, admin, version = mixed
        headers = bearer(db_session, admin)
        response = client.post(
            "/api/v1/jobs",
            headers=headers,
            json={"dataset_version_id": version.id, "start_job_id": parent.id,
                  "params": {"objective": "dpo", "max_steps": 2}},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["start_job_id"], body["base_model"]) == (parent.id, "tiny")
        unfinished = client.post(
            "/api/v1/jobs",
            headers=headers,
            json={"dataset_version_id": version.id, "start_job_id": body["id"]},
        )
        assert unfinished.status_code == 422
        assert unfinished.json()["detail"].startswith(f"Job #{body['id']} has not succeeded")
        no_model = client.post(
            "/api/v1/jobs", headers=headers, json={"dataset_version_id": version.id}
        )
        assert no_model.status_code == 422
        worker = {"Authorization": f"Bearer {_worker(db_session)}"}
        spec = client.post(
            "/api/v1/worker/jobs/claim", headers=worker, json={"worker": "gpu-1"}
        ).json()
        assert spec["job_id"] == body["id"]
        assert spec["params"]["objective"] == "dpo"
        assert spec["start_from"]["job_id"] == parent.id
        assert spec["start_from"]["method"] == parent.params["method"]
        assert spec["start_from"]["artifact_dir"].endswith(f"/jobs/{parent.id}")

    def test_the_form_offers_finished_jobs_and_takes_their_base_model(
        self, client, db_session, mixed, parent, settings
    ):
        _, admin, version = mixed
        unfinished, _ = run_job(db_session, version, admin, finish=False)
        csrf = login(client, admin.email)
        page = client.get("/jobs/new", params={"start_job_id": parent.id}).text
        select_ = re.search(r'<select id="p-start".*?</select>', page, re.S).group(0)
        assert f'value="{parent.id}" data-project="{parent.project_id}"' in select_
        assert f'value="{unfinished.id}"' not in select_
        assert re.search(rf'value="{parent.id}"[^>]*selected', select_)
        base = re.search(r'<input id="p-base"[^>]*>', page).group(0)
        assert 'value="tiny"' in base and "readonly" in base
        assert re.search(rf'<option value="{version.id}"[^>]*selected', page)
        # The typed base model does not count: a continued job trains on its parent's.
        launched = client.post(
            "/jobs",
            data={"csrf_token": csrf, "dataset_version_id": version.id, "base_model": "org/x",
                  "start_job_id": parent.id, "objective": "dpo", "max_steps": "2"},
        )  # fmt: skip
        assert launched.status_code == 303, launched.text
        job = db_session.scalar(select(Job).where(Job.start_job_id == parent.id))
        assert job.base_model == "tiny"
        refused = client.post(
            "/jobs",
            data={"csrf_token": csrf, "dataset_version_id": version.id,
                  "start_job_id": unfinished.id, "objective": "dpo", "max_steps": "2"},
        )  # fmt: skip
        assert refused.status_code == 422
        assert "has not succeeded" in re.search(
            r'id="launch-errors">(.*?)</p>', refused.text, re.S
        ).group(1)
        assert re.search(r'<select id="p-start"[^>]*aria-invalid="true"', refused.text)


def _worker(session) -> str:
    from tests.factories import make_token

    return make_token(session, scope="worker")
