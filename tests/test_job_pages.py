"""Job pages over HTTP: the list, the launch form with inline errors and its estimate, the live
view and its fragment, cancel and retry, results, comparison, artifacts."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from sqlalchemy import select

from app.core.protocol import GenerationParams, JobParams
from app.models import AuditEvent, Job
from tests.factories import join, make_user
from tests.helpers import login
from tests.job_factories import project_version, run_job

HX = {"HX-Request": "true"}


@pytest.fixture
def setup(db_session):
    project, admin, version = project_version(db_session)
    return project, admin, version


def _as(client, db_session, role, project):
    """Sign in as a new user who is a member of ``project`` in the role matching ``role``."""
    user = make_user(db_session, role=role)
    join(db_session, project, user)
    return login(client, user.email)


class TestList:
    def test_reviewer_sees_jobs_with_their_figures_and_filters(self, client, db_session, setup):
        project, admin, version = setup
        done, _ = run_job(db_session, version, admin)
        other, _ = run_job(db_session, version, admin, finish=False)
        _as(client, db_session, "reviewer", project)
        page = client.get("/jobs")
        assert page.status_code == 200
        assert f'data-job="{done.id}"' in page.text and f'data-job="{other.id}"' in page.text
        row = page.text.split(f'data-job="{other.id}"')[1].split("</tr>")[0]
        # A running job: its best eval loss so far (1.5 + 0.2 at step 6), no final one yet.
        assert re.findall(r'<td class="num">([^<]*)</td>', row)[1:3] == ["1.700", "—"]
        assert "Launch a job" not in page.text  # reviewers do not launch
        running = client.get("/jobs", params={"status": "running"})
        assert f'data-job="{other.id}"' in running.text
        assert f'data-job="{done.id}"' not in running.text
        fragment = client.get("/jobs", headers=HX)
        assert fragment.status_code == 200 and "<html" not in fragment.text

    def test_annotators_see_nothing_of_jobs(self, client, db_session, setup):
        project, admin, version = setup
        job, _ = run_job(db_session, version, admin)
        _as(client, db_session, "annotator", project)
        for url in (f"/jobs/{job.id}", f"/jobs/{job.id}/results", f"/jobs/{job.id}/datamap"):
            assert client.get(url).status_code == 403, url
        # The list is open to everyone signed in (one may review in another project); it shows
        # only the jobs of projects where the caller reviews or manages.
        listed = client.get("/jobs")
        assert listed.status_code == 200 and f'data-job="{job.id}"' not in listed.text


class TestLaunchForm:
    def test_form_shows_the_version_summary_and_an_estimate(self, client, db_session, setup):
        _, admin, version = setup
        login(client, admin.email)
        page = client.get("/jobs/new", params={"version_id": version.id})
        assert page.status_code == 200
        assert 'id="est-tokens"' in page.text
        tokens = int(re.search(r'id="est-tokens">([\d,]+)<', page.text).group(1).replace(",", ""))
        assert tokens > version.train_count * 5  # every item has a prompt and an answer
        assert 'id="est-contamination"' in page.text
        assert 'name="csrf_token" value=""' not in page.text  # the browser posts what it got

    def test_number_inputs_take_their_limits_from_the_job_parameters(
        self, client, db_session, setup
    ):
        _, admin, _version = setup
        login(client, admin.email)
        page = client.get("/jobs/new").text
        for name, field in (("batch_size", "batch_size"), ("max_new_tokens", "max_new_tokens")):
            tag = re.search(rf'<input id="p-{name}"[^>]*>', page).group(0)
            model = JobParams if field in JobParams.model_fields else GenerationParams
            limits = {type(rule).__name__: rule for rule in model.model_fields[field].metadata}
            assert f'min="{limits["Ge"].ge}"' in tag and f'max="{limits["Le"].le}"' in tag
        assert 'max="' not in re.search(r'<input id="p-seed"[^>]*>', page).group(0)

    def test_estimate_follows_the_form(self, client, db_session, setup):
        _, admin, version = setup
        csrf = login(client, admin.email)
        base = {"csrf_token": csrf, "dataset_version_id": version.id, "base_model": "tiny"}
        few = client.post(
            "/jobs/estimate", headers=HX, data={**base, "max_steps": "7", "batch_size": "4"}
        )
        assert few.status_code == 200
        assert re.search(r'id="est-steps">7<', few.text)
        many = client.post(
            "/jobs/estimate", headers=HX, data={**base, "epochs": "10", "batch_size": "1"}
        )
        steps = int(re.search(r'id="est-steps">(\d+)<', many.text).group(1))
        assert steps >= 10

    def test_bad_fields_come_back_inline_and_nothing_is_lost(self, client, db_session, setup):
        _, admin, version = setup
        csrf = login(client, admin.email)
        response = client.post(
            "/jobs",
            data={
                "csrf_token": csrf,
                "dataset_version_id": version.id,
                "base_model": "not a model id",
                "learning_rate": "-1",
                "batch_size": "lots",
                "epochs": "3",
                "method": "lora",
                "lora_targets": "q_proj, k_proj",
            },
        )
        assert response.status_code == 422
        assert 'id="learning_rate-error"' in response.text
        assert 'id="batch_size-error"' in response.text
        assert 'value="not a model id"' in response.text
        assert 'value="q_proj, k_proj"' in response.text
        assert db_session.scalar(select(Job.id)) is None
        bad_model = client.post(
            "/jobs",
            data={
                "csrf_token": csrf,
                "dataset_version_id": version.id,
                "base_model": "not a model",
                "epochs": "1",
            },
        )
        assert bad_model.status_code == 422 and 'id="base_model-error"' in bad_model.text

    def test_launch_queues_a_job_with_the_typed_parameters(self, client, db_session, setup):
        _, admin, version = setup
        csrf = login(client, admin.email)
        response = client.post(
            "/jobs",
            data={
                "csrf_token": csrf,
                "dataset_version_id": version.id,
                "base_model": "tiny",
                "method": "full",
                "epochs": "2",
                "learning_rate": "0.003",
                "batch_size": "4",
                "packing": "1",
                "max_new_tokens": "12",
            },
        )
        assert response.status_code == 303
        job = db_session.scalar(select(Job))
        assert response.headers["location"] == f"/jobs/{job.id}"
        assert job.params["method"] == "full" and job.params["batch_size"] == 4
        assert job.params["learning_rate"] == 0.003 and job.params["packing"] is True
        assert job.params["generation"]["max_new_tokens"] == 12
        assert (
            db_session.scalar(
                select(AuditEvent.action).where(
                    AuditEvent.entity_id == str(job.id), AuditEvent.entity_type == "job"
                )
            )
            == "job.launched"
        )

    def test_without_csrf_nothing_is_launched(self, client, db_session, setup):
        _, admin, version = setup
        login(client, admin.email)
        response = client.post(
            "/jobs", data={"dataset_version_id": version.id, "base_model": "tiny"}
        )
        assert response.status_code == 403
        assert db_session.scalar(select(Job.id)) is None


class TestLiveView:
    def test_running_job_polls_and_shows_progress(self, client, db_session, setup):
        project, admin, version = setup
        job, _ = run_job(db_session, version, admin, finish=False)
        _as(client, db_session, "reviewer", project)
        page = client.get(f"/jobs/{job.id}")
        assert page.status_code == 200
        assert 'hx-trigger="every 2s"' in page.text
        assert re.search(r'<progress id="job-progress" max="6" value="6"', page.text)
        assert 'id="job-eta"' in page.text and "1,234" in page.text
        # The epoch follows the per-step metrics, not the last heartbeat (epoch 0.5 at step 2).
        assert '<span id="job-epoch">epoch 3.00</span>' in page.text
        fragment = client.get(f"/jobs/{job.id}/live", headers=HX)
        assert fragment.status_code == 200 and "<html" not in fragment.text
        series = re.search(r'id="job-series">(.*?)</script>', fragment.text).group(1)
        assert '"train/loss": [3.0, 2.5, 2.1, 1.8, 1.6, 1.5]' in series
        assert '"eval/loss": [null, null, 2.3' in series
        assert "step 6 loss 1.5" in fragment.text
        assert client.get(f"/jobs/{job.id}/live").status_code == 200

    def test_finished_job_stops_polling_and_links_results(self, client, db_session, setup):
        project, admin, version = setup
        job, _ = run_job(db_session, version, admin)
        _as(client, db_session, "reviewer", project)
        page = client.get(f"/jobs/{job.id}")
        assert "every 2s" not in page.text
        assert 'id="results-link"' in page.text
        assert 'id="retry-job"' not in page.text  # reviewers do not retry

    def test_admin_cancels_then_retries(self, client, db_session, setup):
        _, admin, version = setup
        job, _ = run_job(db_session, version, admin, finish=False)
        csrf = login(client, admin.email)
        page = client.get(f"/jobs/{job.id}")
        assert 'id="cancel-job"' in page.text
        assert client.post(f"/jobs/{job.id}/cancel", data={"csrf_token": csrf}).status_code == 303
        db_session.refresh(job)
        assert job.cancel_requested
        assert "stopping at the next heartbeat" in client.get(f"/jobs/{job.id}").text
        conflict = client.post(f"/jobs/{job.id}/retry", data={"csrf_token": csrf})
        assert conflict.status_code == 409  # still running until the worker stops
        job.status = "cancelled"
        db_session.flush()
        retried = client.post(f"/jobs/{job.id}/retry", data={"csrf_token": csrf})
        assert retried.status_code == 303
        child = db_session.scalar(select(Job).where(Job.parent_id == job.id))
        assert retried.headers["location"] == f"/jobs/{child.id}"
        assert child.params == job.params and child.status == "queued"
        assert f'retried as <a href="/jobs/{child.id}">' in client.get(f"/jobs/{job.id}").text
        assert f'retry of <a href="/jobs/{job.id}">' in client.get(f"/jobs/{child.id}").text


class TestResults:
    def test_metrics_overall_and_per_kind(self, client, db_session, setup):
        project, admin, version = setup
        job, _ = run_job(db_session, version, admin)
        _as(client, db_session, "reviewer", project)
        page = client.get(f"/jobs/{job.id}/results")
        assert page.status_code == 200
        for table in ("metrics-overall", "metrics-task", "metrics-constraint", "metrics-example"):
            assert f'id="{table}"' in page.text
        task = page.text.split('id="metrics-task"')[1].split("</table>")[0]
        assert re.search(r'data-metric="exact_match">.*?<td class="num">100.0</td>', task, re.S)
        constraint = page.text.split('id="metrics-constraint"')[1].split("</table>")[0]
        row = re.search(r'data-metric="constraints_passed">(.*?)</tr>', constraint, re.S).group(1)
        assert "0.0" in row and "100.0" in row  # base "no idea" passes, tuned breaks the rule
        assert "5.47" in page.text  # perplexity = exp(1.7)

    def test_filter_tuned_breaks_a_constraint(self, client, db_session, setup):
        project, admin, version = setup
        job, _ = run_job(db_session, version, admin)
        _as(client, db_session, "reviewer", project)
        page = client.get(f"/jobs/{job.id}/results", params={"show": "broken"})
        rows = re.findall(r'<tr data-item="(\d+)"', page.text)
        assert rows and 'data-constraint="punctuation:no_comma" data-state="fail"' in page.text
        everything = re.findall(
            r'<tr data-item="(\d+)"', client.get(f"/jobs/{job.id}/results").text
        )
        assert len(rows) < len(everything)
        fragment = client.get(
            f"/jobs/{job.id}/results", params={"kind": "task", "sort": "tuned_f1"}, headers=HX
        )
        assert fragment.status_code == 200 and 'id="predictions"' in fragment.text
        assert "data-constraint" not in fragment.text.split('id="predictions"')[1]

    def test_compare_two_jobs(self, client, db_session, setup):
        project, admin, version = setup
        a, _ = run_job(db_session, version, admin)
        b, _ = run_job(db_session, version, admin, losses=(2.0, 1.0, 0.5))
        _as(client, db_session, "reviewer", project)
        page = client.get("/jobs/compare", params={"ids": [a.id, b.id]})
        assert page.status_code == 200
        series = re.search(r'id="compare-series">(.*?)</script>', page.text).group(1)
        assert f'"#{a.id} train"' in series and f'"#{b.id} eval"' in series
        assert client.get("/jobs/compare", params={"ids": [a.id]}).status_code == 422

    def test_model_card_and_download(self, client, db_session, setup, settings):
        project, admin, version = setup
        job, _ = run_job(db_session, version, admin)
        _as(client, db_session, "reviewer", project)
        assert client.get(f"/jobs/{job.id}/artifacts/model.zip").status_code == 404
        folder = settings.resolved_artifacts_dir / "jobs" / str(job.id) / "model"
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(b"\0" * 300_000)
        (folder / "README.md").write_text("---\nbase_model: tiny\n---\n# Card <script>x</script>\n")
        page = client.get(f"/jobs/{job.id}/results")
        assert 'id="model-card"' in page.text and "<script>x" not in page.text
        download = client.get(f"/jobs/{job.id}/artifacts/model.zip")
        assert download.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(download.content))
        assert sorted(archive.namelist()) == ["README.md", "adapter_model.safetensors"]
        assert archive.read("adapter_model.safetensors") == b"\0" * 300_000
        assert client.get(f"/jobs/{job.id}/artifacts/..%2Fsecret").status_code == 404
