"""The launch form's pre-flight panel over HTTP: the button, the panel that polls while no
worker has answered (and asks whether one is running), field errors and refusals as the
launch gives them, and a finished check's example token by token, highlighted and escaped,
with its counts, device, memory and duration."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.models import Preflight
from app.models.base import utcnow
from tests.factories import join, make_user
from tests.helpers import login
from tests.preflight_factories import PreflightApi, report_body

HX = {"HX-Request": "true"}
CPU = {"kind": "cpu", "name": "Test CPU", "memory_bytes": 16 * 1024**3}


@pytest.fixture
def api(client, db_session) -> PreflightApi:
    return PreflightApi(client, db_session, name="Panel")


def _form(csrf: str, version_id: int, **fields) -> dict:
    return {
        "csrf_token": csrf,
        "dataset_version_id": version_id,
        "base_model": "tiny",
        "method": "full",
        "max_steps": "5",
        **fields,
    }


def _finished(api: PreflightApi, body: dict | None = None, *, fail: str = "") -> int:
    """A check a worker took and answered through the API."""
    check_id = api.asked()
    worker = api.worker()
    assert api.claim(worker, CPU).status_code == 200
    answer = (
        api.answer(worker, check_id, {"error": fail}, fail=True)
        if fail
        else api.answer(worker, check_id, body or report_body(api.train_item()))
    )
    assert answer.status_code == 200, answer.text
    return check_id


def test_the_launch_form_has_the_button_and_an_empty_panel(api, client):
    login(client, api.admin_user.email)
    page = client.get("/jobs/new", params={"version_id": api.version.id}).text
    button = re.search(r'<button type="button" id="preflight"[^>]*>', page).group(0)
    assert 'hx-post="/jobs/preflights"' in button and 'hx-target="#preflight-panel"' in button
    assert 'hx-swap="outerHTML"' in button  # not the form's own target, the estimate
    assert '<div id="preflight-panel"></div>' in page


def test_asking_shows_a_panel_that_waits_for_a_worker_and_polls(api, client, db_session):
    csrf = login(client, api.admin_user.email)
    response = client.post("/jobs/preflights", headers=HX, data=_form(csrf, api.version.id))
    assert response.status_code == 202, response.text
    check_id = db_session.scalar(Preflight.__table__.select().with_only_columns(Preflight.id))
    panel = response.text
    assert 'id="preflight-panel"' in panel and "Waiting for a worker…" in panel
    assert f'hx-get="/jobs/preflights/{check_id}"' in panel and 'hx-trigger="every 1s"' in panel
    assert "is a worker running?" not in panel
    db_session.execute(
        update(Preflight).values(created_at=utcnow() - timedelta(minutes=1))
    )  # nobody took it for a minute
    db_session.commit()
    later = client.get(f"/jobs/preflights/{check_id}", headers=HX).text
    assert "No worker has taken the check yet: is a worker running?" in later
    assert 'hx-trigger="every 1s"' in later  # still waiting, still polling
    page = client.get(f"/jobs/preflights/{check_id}")
    assert page.status_code == 200 and "<html" in page.text and "Waiting for a worker" in page.text


def test_without_csrf_nothing_is_checked(api, client, db_session):
    login(client, api.admin_user.email)
    data = _form("", api.version.id)
    response = client.post("/jobs/preflights", headers=HX, data=data)
    assert response.status_code in (400, 403)
    assert db_session.scalar(Preflight.__table__.select().with_only_columns(Preflight.id)) is None


def test_bad_fields_are_named_as_launching_names_them(api, client, db_session):
    csrf = login(client, api.admin_user.email)
    data = _form(csrf, api.version.id, learning_rate="-1", batch_size="lots")
    checked = client.post("/jobs/preflights", headers=HX, data=data)
    launched = client.post("/jobs", headers=HX, data=data)
    assert checked.status_code == launched.status_code == 422
    for field, message in (
        ("learning_rate", "Too small."),
        ("batch_size", "Enter a whole number."),
    ):
        assert f'id="{field}-error">{message}<' in launched.text
        assert re.search(
            rf'<li data-field="{field}"><a href="#p-{field}">[^<]+</a>: {message}</li>',
            checked.text,
        )
    assert "Some fields need attention; nothing was checked." in checked.text
    assert db_session.scalar(Preflight.__table__.select().with_only_columns(Preflight.id)) is None


def test_a_refused_setting_gives_the_launchs_sentence(api, client):
    csrf = login(client, api.admin_user.email)
    data = _form(csrf, api.version.id, quantization="4bit")  # 4-bit with a full fine-tune
    checked = client.post("/jobs/preflights", headers=HX, data=data)
    launched = client.post("/jobs", headers=HX, data=data)
    assert checked.status_code == launched.status_code == 422
    sentence = (
        "4-bit loading is for LoRA: a full fine-tune trains every weight, and 4-bit weights "
        "cannot be trained. Choose LoRA, or turn 4-bit loading off."
    )
    assert sentence in launched.text and sentence in checked.text
    assert 'data-field="quantization"' in checked.text


def test_a_finished_check_shows_the_example_highlighted_and_escaped(api, client):
    body = report_body(api.train_item(), text="<script>alert(1)</script>\n x")
    check_id = _finished(api, body)
    login(client, api.admin_user.email)
    panel = client.get(f"/jobs/preflights/{check_id}", headers=HX).text
    assert "hx-trigger" not in panel  # done: it stops polling
    spans = re.findall(r'<span class="tok( loss)?" title="(\d+)">(.*?)</span>', panel, re.S)
    assert spans == [
        ("", "7", "User:↵\n"),
        (" loss", "8", "&lt;script&gt;alert(1)&lt;/script&gt;↵\n·x"),
        (" loss", "2", "&lt;/s&gt;"),
    ]
    assert "<script>" not in panel
    assert "Highlighted tokens carry the loss; the rest are context." in panel
    assert "2 of the example's 3 tokens carry the loss." in panel
    assert "The data renders under the base model's own chat template." in panel
    assert re.search(r'data-count="encoded">9<', panel) and re.search(
        r'data-count="dropped">1<', panel
    )
    assert (
        "About 14 min for 1,240 steps, at 0.68 s a step on NVIDIA H100 80GB HBM3; evaluation "
        "and generation come on top." in panel
    )
    assert "Peak memory during the steps: 3.0 GiB of the device's 79.6 GiB." in panel


def test_a_long_run_reads_in_hours(api, client):
    check_id = _finished(api, report_body(api.train_item(), seconds_per_step=12.5))
    login(client, api.admin_user.email)
    panel = client.get(f"/jobs/preflights/{check_id}", headers=HX).text
    assert "About 4 h 18 min for 1,240 steps, at 12.5 s a step" in panel


def test_a_failed_check_shows_its_sentence_escaped(api, client):
    check_id = _finished(api, fail="RuntimeError: the template <b>broke</b>")
    login(client, api.admin_user.email)
    panel = client.get(f"/jobs/preflights/{check_id}", headers=HX).text
    assert "RuntimeError: the template &lt;b&gt;broke&lt;/b&gt;" in panel
    assert "A job launched with these settings would fail the same way." in panel
    assert "hx-trigger" not in panel


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
def test_people_who_do_not_launch_get_403(api, client, db_session, role):
    check_id = api.asked()
    person = make_user(db_session, role=role)
    join(db_session, api.project, person)
    csrf = login(client, person.email)
    assert client.get(f"/jobs/preflights/{check_id}", headers=HX).status_code == 403
    asked = client.post("/jobs/preflights", headers=HX, data=_form(csrf, api.version.id))
    assert asked.status_code == 403
