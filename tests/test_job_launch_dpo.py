"""Launching DPO and continuing from a job: the objective offered or refused by what a version
holds (the form's fragment, the launch form, the API), the estimate counting pairs, and the
job to continue from checked (its project, its status, its model folder)."""

from __future__ import annotations

import math
import re

import pytest
from sqlalchemy import select

from app.core.protocol import JobParams
from app.jobs import estimate, forms, objective
from app.models import AuditEvent, Job
from tests.api_helpers import bearer
from tests.helpers import login
from tests.job_factories import project_version
from tests.pair_factories import pairs_version

HX = {"HX-Request": "true"}
NO_PAIRS = "holds no preference pairs; DPO learns from pairs."
ONLY_PAIRS = "holds only preference pairs; supervised fine-tuning leaves pairs out."


@pytest.fixture
def mixed(db_session):
    """A version of SFT items and six pairs: (project, admin, version)."""
    return pairs_version(db_session, "Mixed")


@pytest.fixture
def plain(db_session):
    """A version without pairs."""
    return project_version(db_session, "Plain")


@pytest.fixture
def only_pairs(db_session):
    return pairs_version(db_session, "Only pairs", with_items=False)


def _estimate(client, csrf, version, **fields):
    data = {"csrf_token": csrf, "dataset_version_id": version.id, "base_model": "tiny", **fields}
    response = client.post("/jobs/estimate", headers=HX, data=data)
    assert response.status_code == 200, response.text
    return response.text


def _note(fragment: str) -> str:
    return re.search(r'<div id="objective-note".*?</div>', fragment, re.S).group(0)


class TestContents:
    def test_pairs_are_counted_from_the_pinned_kinds(self, db_session, mixed, plain):
        _, _, version = mixed
        held = objective.contents(db_session, version)
        assert held.pairs == 6 and held.train_pairs + held.eval_pairs == 6
        assert held.train_items + held.eval_items == 16  # the dataset factories' mix
        assert held.train_items + held.train_pairs == version.train_count
        assert held.train_for("dpo") == held.train_pairs
        assert held.train_for("sft") == held.train_items
        assert objective.contents(db_session, plain[2]).pairs == 0

    def test_refusals_by_objective(self, db_session, mixed, plain, only_pairs):
        def why(version, name):
            found = objective.refusal(version, objective.contents(db_session, version), name)
            return found.text if found else None

        assert why(mixed[2], "dpo") is None and why(mixed[2], "sft") is None
        assert why(plain[2], "sft") is None
        assert why(plain[2], "dpo") == (
            "Dataset version v1 holds no preference pairs; DPO learns from pairs. Make pairs "
            "from an evaluation round or write them, then freeze a new version."
        )
        assert why(only_pairs[2], "dpo") is None
        assert ONLY_PAIRS in why(only_pairs[2], "sft")

    def test_pairs_only_in_the_eval_split_are_no_training_pairs(self, db_session, plain):
        version = plain[2]
        held = objective.Contents(train_items=5, eval_items=1, train_pairs=0, eval_pairs=2)
        found = objective.refusal(version, held, "dpo")
        assert found.field == "objective" and "only in its eval split" in found.text
        assert objective.refusal(version, held, "sft") is None


class TestEstimate:
    def test_dpo_counts_pairs_and_sft_counts_the_rest(self, db_session, mixed):
        _, _, version = mixed
        held = objective.contents(db_session, version)
        params = dict(batch_size=2, epochs=3, packing=False)
        dpo = estimate.estimate(db_session, version, JobParams(objective="dpo", **params))
        sft = estimate.estimate(db_session, version, JobParams(objective="sft", **params))
        assert dpo.train_items == dpo.sampled == held.train_pairs
        assert dpo.steps_per_epoch == math.ceil(held.train_pairs / 2)
        assert dpo.total_steps == 3 * math.ceil(held.train_pairs / 2)
        assert sft.train_items == sft.sampled == held.train_items
        assert sft.steps_per_epoch == math.ceil(held.train_items / 2)
        # A pair is read twice: its prompt with the chosen response and with the rejected.
        assert dpo.tokens_per_epoch > 0 and sft.tokens_per_epoch > 0

    def test_dpo_ignores_packing(self, db_session, mixed):
        _, _, version = mixed
        packed = estimate.estimate(
            db_session, version, JobParams(objective="dpo", batch_size=1, packing=True)
        )
        assert packed.steps_per_epoch == objective.contents(db_session, version).train_pairs

    def test_a_pair_counts_both_of_its_sequences(self):
        snapshot = {"kind": "preference", "instruction": "Say hi.", "output": "Hi there, friend.",
                    "rejected": "No."}  # fmt: skip
        both = estimate.pair_tokens(snapshot, 512)
        chosen = estimate.item_tokens(snapshot, 512)
        rejected = estimate.item_tokens({**snapshot, "output": "No.", "rejected": ""}, 512)
        assert both == chosen + rejected


class TestForm:
    def test_the_fragment_offers_dpo_on_a_version_with_pairs(self, client, db_session, mixed):
        _, admin, version = mixed
        csrf = login(client, admin.email)
        fragment = _estimate(client, csrf, version, objective="dpo", batch_size="2")
        note = _note(fragment)
        assert 'hx-swap-oob="true"' in note and 'data-refused=""' in note
        assert 'id="objective-pairs"' in note and "6 preference pairs" in note
        held = objective.contents(db_session, version)
        assert re.search(rf'id="est-items">{held.train_pairs}<', fragment)
        assert "Training pairs per epoch" in fragment
        assert 'id="est-pairs"' in fragment

    def test_the_fragment_refuses_dpo_on_a_version_without_pairs(self, client, db_session, plain):
        _, admin, version = plain
        csrf = login(client, admin.email)
        sft = _note(_estimate(client, csrf, version))
        assert 'data-refused="dpo"' in sft and NO_PAIRS in sft
        assert 'id="objective-not-offered"' in sft  # SFT is fine: DPO is the one not offered
        dpo = _note(_estimate(client, csrf, version, objective="dpo"))
        assert 'id="objective-refused"' in dpo and NO_PAIRS in dpo

    def test_the_fragment_refuses_sft_on_a_version_of_pairs_only(
        self, client, db_session, only_pairs
    ):
        _, admin, version = only_pairs
        csrf = login(client, admin.email)
        note = _note(_estimate(client, csrf, version))
        assert 'data-refused="sft"' in note and ONLY_PAIRS in note

    def test_the_page_disables_a_refused_objective_unless_chosen(self, client, db_session, plain):
        _, admin, version = plain
        login(client, admin.email)
        page = client.get("/jobs/new", params={"version_id": version.id}).text
        dpo = re.search(r'<input type="radio" name="objective" value="dpo"[^>]*>', page).group(0)
        sft = re.search(r'<input type="radio" name="objective" value="sft"[^>]*>', page).group(0)
        assert "disabled" in dpo and "checked" in sft and "disabled" not in sft
        assert 'id="dpo-params"' in page  # shown without JavaScript; jobs.js hides it for SFT
        hints = re.search(r'id="dpo-params".*?</fieldset>', page, re.S).group(0)
        assert JobParams.model_fields["dpo_beta"].description in hints

    def test_launching_dpo_without_pairs_says_why_and_keeps_the_form(
        self, client, db_session, plain
    ):
        _, admin, version = plain
        csrf = login(client, admin.email)
        response = client.post(
            "/jobs",
            data={"csrf_token": csrf, "dataset_version_id": version.id, "base_model": "tiny",
                  "objective": "dpo", "dpo_beta": "0.3", "epochs": "2"},
        )  # fmt: skip
        assert response.status_code == 422
        alert = re.search(r'id="launch-errors">(.*?)</p>', response.text, re.S).group(1)
        assert NO_PAIRS in alert
        assert re.search(r'<input id="p-dpo_beta"[^>]*value="0.3"', response.text)
        assert re.search(r'value="dpo" checked', response.text)
        assert db_session.scalar(select(Job).where(Job.dataset_version_id == version.id)) is None

    def test_launching_dpo_with_pairs_queues_its_parameters(self, client, db_session, mixed):
        _, admin, version = mixed
        csrf = login(client, admin.email)
        response = client.post(
            "/jobs",
            data={"csrf_token": csrf, "dataset_version_id": version.id, "base_model": "tiny",
                  "objective": "dpo", "dpo_beta": "0.25", "dpo_label_smoothing": "0.1",
                  "epochs": "2", "method": "lora"},
        )  # fmt: skip
        assert response.status_code == 303, response.text
        job = db_session.scalar(select(Job).where(Job.dataset_version_id == version.id))
        assert (job.params["objective"], job.params["dpo_beta"]) == ("dpo", 0.25)
        assert job.params["dpo_label_smoothing"] == 0.1
        event = db_session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "job.launched", AuditEvent.entity_id == str(job.id)
            )
        )
        assert event.after["objective"] == "dpo" and event.after["start_job"] is None

    def test_the_dpo_preset(self, client, db_session, mixed):
        _, admin, version = mixed
        login(client, admin.email)
        page = client.get("/jobs/new", params={"version_id": version.id, "preset": "dpo-lora"}).text
        assert re.search(r'value="dpo" checked', page)
        assert re.search(r'name="method" value="lora" checked', page)
        lr = float(re.search(r'<input id="p-learning_rate"[^>]*value="([^"]+)"', page).group(1))
        assert lr == pytest.approx(forms.PRESETS["tiny"]["learning_rate"] / 10)
        assert 'id="preset-dpo-lora"' in page
        # The version list names the pairs its statistics counted.
        assert re.search(rf'<option value="{version.id}"[^>]*>[^<]*; 6 preference pairs\)', page)

    def test_hints_are_the_parameters_own_descriptions(self):
        for name, hint in forms.HINTS.items():
            assert hint == JobParams.model_fields[name].description


class TestApi:
    def _launch(self, client, headers, version, **body):
        payload = {"dataset_version_id": version.id, "base_model": "tiny",
                   "params": {"max_steps": 3, **body.pop("params", {})}, **body}  # fmt: skip
        return client.post("/api/v1/jobs", headers=headers, json=payload)

    def test_dpo_without_pairs_and_sft_on_pairs_only_answer_422(
        self, client, db_session, plain, only_pairs
    ):
        headers = bearer(db_session, plain[1])
        refused = self._launch(client, headers, plain[2], params={"objective": "dpo"})
        assert refused.status_code == 422
        assert refused.json() == {"error": "invalid", "detail": (
            "Dataset version v1 holds no preference pairs; DPO learns from pairs. Make pairs "
            "from an evaluation round or write them, then freeze a new version.")}  # fmt: skip
        headers = bearer(db_session, only_pairs[1])
        sft = self._launch(client, headers, only_pairs[2])
        assert sft.status_code == 422 and ONLY_PAIRS in sft.json()["detail"]
        dpo = self._launch(client, headers, only_pairs[2], params={"objective": "dpo"})
        assert dpo.status_code == 201, dpo.text
        assert dpo.json()["params"]["objective"] == "dpo" and dpo.json()["start_job_id"] is None
