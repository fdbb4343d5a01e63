"""An admin cannot make a worker read any folder as a base model. With no model roots set only
``tiny`` and hub ids are accepted; with roots, a local base model must be an absolute path that
lies inside one of them as written and once links are followed. The trainer checks again
where the files are, when it is told the roots."""

from __future__ import annotations

import os

import pytest

from app.core import base_models
from app.core.job_paths import API_ROOT
from app.models import Job
from tests.job_factories import WorkerApi, error_sentence
from trainer.start import base_model_source


@pytest.fixture
def roots(tmp_path):
    """A model root with one model, a secret folder beside it, and a link out of the root."""
    root = tmp_path / "models"
    (root / "org-model").mkdir(parents=True)
    secret = tmp_path / "secrets"
    secret.mkdir()
    os.symlink(secret, root / "escape")
    return root, secret


def _launch(api: WorkerApi, base_model: str):
    return api.launch(base_model=base_model)


def _refused(response) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["field"] == "base_model"
    return error_sentence(response)


class TestWithoutRoots:
    def test_no_local_path_is_accepted(self, client, db_session, roots):
        root, secret = roots
        api = WorkerApi(client, db_session)
        for value in ("/etc", str(secret), str(root / "org-model"), "./models/x", "~/.ssh"):
            sentence = _refused(_launch(api, value))
            assert "STUDIO_MODEL_ROOTS" in sentence or "absolute path" in sentence, value
        assert db_session.query(Job).count() == 0

    def test_tiny_and_hub_ids_are_accepted(self, client, db_session):
        api = WorkerApi(client, db_session)
        for value in ("tiny", "Qwen/Qwen2.5-0.5B", "org/name"):
            assert _launch(api, value).status_code == 201, value

    def test_a_hub_id_cannot_climb(self, client, db_session):
        api = WorkerApi(client, db_session)
        for value in ("org/..", "../etc", "a/../../etc", "org/name/../../x", ".hidden/x"):
            _refused(_launch(api, value))


class TestWithRoots:
    @pytest.fixture
    def settings(self, settings, roots):
        root, _secret = roots
        return settings.model_copy(update={"model_roots": [root]})

    def test_a_folder_inside_a_root_is_accepted(self, client, db_session, roots):
        root, _secret = roots
        api = WorkerApi(client, db_session)
        response = _launch(api, str(root / "org-model"))
        assert response.status_code == 201, response.text
        assert response.json()["base_model"] == str(root / "org-model")

    def test_paths_out_of_the_roots_are_refused(self, client, db_session, roots):
        root, secret = roots
        api = WorkerApi(client, db_session)
        for value in (
            str(secret),  # beside the root
            "/etc",
            f"{root}/../secrets",  # climbs out
            f"{root}-other/model",  # shares the root's name as a prefix only
            str(root / "escape"),  # a link out of the root
            str(root / "escape" / "deeper"),
            "./models/org-model",  # relative: another place on each machine
            "~/models",
        ):
            _refused(_launch(api, value))
        assert db_session.query(Job).count() == 0

    def test_a_retry_is_checked_against_todays_roots(self, client, db_session, roots, settings):
        root, _secret = roots
        api = WorkerApi(client, db_session)
        job_id = _launch(api, str(root / "org-model")).json()["id"]
        client.post(f"{API_ROOT}/jobs/{job_id}/cancel", headers=api.admin)
        settings.model_roots = []
        retried = client.post(f"{API_ROOT}/jobs/{job_id}/retry", headers=api.admin)
        _refused(retried)


class TestTheTrainerChecksAgain:
    def test_with_roots_it_refuses_a_path_outside(self, roots, monkeypatch):
        root, secret = roots
        monkeypatch.setenv("STUDIO_MODEL_ROOTS", f'["{root}"]')
        assert base_model_source(str(root / "org-model")) == str(root / "org-model")
        for value in (str(secret), str(root / "escape"), f"{root}/../secrets"):
            with pytest.raises(base_models.ModelPathRefused):
                base_model_source(value)

    def test_with_no_roots_it_refuses_every_path(self, roots, monkeypatch):
        root, _secret = roots
        monkeypatch.setenv("STUDIO_MODEL_ROOTS", "[]")
        with pytest.raises(base_models.ModelPathRefused):
            base_model_source(str(root / "org-model"))

    def test_a_hub_id_that_names_a_folder_here_is_not_read(self, tmp_path, monkeypatch):
        (tmp_path / "org" / "model").mkdir(parents=True)
        monkeypatch.chdir(tmp_path)
        with pytest.raises(RuntimeError, match="hub id"):
            base_model_source("org/model")
