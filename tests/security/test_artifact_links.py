"""A worker cannot make the web app show or send a file of its choosing. The model card and
``model.zip`` are read from the job's folder, which the worker writes: links (to a secret
file, to ``/proc/self/environ``, to another folder), pipes and oversize cards are refused or
left out, and the results page shows nothing of them."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from app.core.protocol import MAX_CARD_BYTES
from tests.factories import join, make_user
from tests.helpers import login
from tests.job_factories import project_version, run_job

SECRET = "STUDIO_SECRET_KEY=do-not-show-0123456789"
CARD = "---\nbase_model: tiny\n---\n# An honest card\n"


@pytest.fixture
def model(client, db_session, settings, tmp_path):
    """A succeeded job's model folder with an honest adapter and card, a secret file outside
    the artifact store, and a reviewer signed in; yields (job, folder, secret)."""
    project, admin, version = project_version(db_session)
    job, _ = run_job(db_session, version, admin)
    folder = settings.resolved_artifacts_dir / "jobs" / str(job.id) / "model"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 1000)
    (folder / "README.md").write_text(CARD)
    secret = tmp_path / "outside" / "secret.env"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\n")
    reviewer = make_user(db_session, role="reviewer")
    join(db_session, project, reviewer)
    login(client, reviewer.email)
    return job, folder, secret


def _results(client, job) -> str:
    page = client.get(f"/jobs/{job.id}/results")
    assert page.status_code == 200
    return page.text


def _zip_names(client, job) -> dict[str, bytes]:
    response = client.get(f"/jobs/{job.id}/artifacts/model.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return {name: archive.read(name) for name in archive.namelist()}


def _card_link(folder: Path, target: Path) -> None:
    (folder / "README.md").unlink()
    os.symlink(target, folder / "README.md")


def test_an_honest_card_and_zip_are_served(client, model):
    job, _folder, _secret = model
    assert "An honest card" in _results(client, job)
    card = client.get(f"/jobs/{job.id}/artifacts/README.md")
    assert card.status_code == 200 and "An honest card" in card.text
    assert set(_zip_names(client, job)) == {"README.md", "adapter_model.safetensors"}


def test_a_card_linked_to_a_secret_is_not_shown(client, model):
    job, folder, secret = model
    _card_link(folder, secret)
    page = _results(client, job)
    assert SECRET not in page and 'id="model-card"' not in page
    assert client.get(f"/jobs/{job.id}/artifacts/README.md").status_code == 404
    assert "README.md" not in _zip_names(client, job)


def test_a_card_linked_to_the_web_process_environment_is_not_shown(client, model):
    environ = Path("/proc/self/environ")
    if not environ.exists():
        pytest.skip("no /proc on this system")
    job, folder, _secret = model
    _card_link(folder, environ)
    first = environ.read_bytes().split(b"\0")[0].decode(errors="replace")
    page = _results(client, job)
    assert 'id="model-card"' not in page and first not in page
    download = client.get(f"/jobs/{job.id}/artifacts/README.md")
    assert download.status_code == 404 and first not in download.text


def test_linked_files_and_folders_are_left_out_of_the_zip(client, model):
    job, folder, secret = model
    os.symlink(secret, folder / "tokenizer.json")
    os.symlink(secret.parent, folder / "extra")
    (folder / "sub").mkdir()
    (folder / "sub" / "kept.txt").write_text("kept")
    os.symlink(secret, folder / "sub" / "config.json")
    names = _zip_names(client, job)
    assert set(names) == {"README.md", "adapter_model.safetensors", "sub/kept.txt"}
    assert not any(SECRET.encode() in data for data in names.values())


def test_a_hard_link_to_a_file_elsewhere_is_left_out(client, model):
    job, folder, secret = model
    os.link(secret, folder / "special_tokens_map.json")
    names = _zip_names(client, job)
    assert "special_tokens_map.json" not in names
    assert not any(SECRET.encode() in data for data in names.values())


def test_pipes_are_skipped_and_nothing_hangs(client, model):
    job, folder, _secret = model
    os.mkfifo(folder / "weights.bin")
    (folder / "README.md").unlink()
    os.mkfifo(folder / "README.md")
    assert 'id="model-card"' not in _results(client, job)
    assert client.get(f"/jobs/{job.id}/artifacts/README.md").status_code == 404
    assert set(_zip_names(client, job)) == {"adapter_model.safetensors"}


def test_a_model_folder_that_is_a_link_is_not_served(client, model):
    """The whole model folder swapped for a link to a folder outside the job's."""
    job, folder, secret = model
    (secret.parent / "README.md").write_text("# Planted card\n" + SECRET)
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    os.symlink(secret.parent, folder)
    page = _results(client, job)
    assert SECRET not in page and "Planted card" not in page
    assert client.get(f"/jobs/{job.id}/artifacts/model.zip").status_code == 404
    assert client.get(f"/jobs/{job.id}/artifacts/README.md").status_code == 404


def test_an_oversize_card_is_not_rendered_or_sent(client, model):
    job, folder, _secret = model
    (folder / "README.md").write_text("# Huge\n" + "x" * MAX_CARD_BYTES)
    page = _results(client, job)
    assert 'id="model-card"' not in page and "x" * 1000 not in page
    assert client.get(f"/jobs/{job.id}/artifacts/README.md").status_code == 404
