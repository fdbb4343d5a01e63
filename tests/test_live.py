"""`studio run` as a real process over HTTP: first start, sign-in, restart keeps state."""

from __future__ import annotations

import os
import re
import subprocess
import time

import httpx
import pytest

from tests.conftest import live_backend
from tests.dbs import fresh_database
from tests.live_server import Server

pytestmark = pytest.mark.live


@pytest.fixture
def live_env(tmp_path):
    with fresh_database(live_backend(), tmp_path) as url:
        env = {
            **os.environ,
            "STUDIO_DATABASE_URL": url,
            "STUDIO_VAR_DIR": str(tmp_path / "var"),
            "STUDIO_ADMIN_EMAIL": "boss@example.org",
            "STUDIO_ADMIN_PASSWORD": "",
        }
        yield env, tmp_path


def _login(client: httpx.Client, email: str, password: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)


def test_first_start_admin_creates_annotator_who_is_kept_out_of_admin(live_env):
    env, cwd = live_env
    server = Server(env, cwd)
    try:
        server.wait()
        log = server.log.read_text()
        password = re.search(r"Generated password \(shown once\): (\S+)", log).group(1)
        with httpx.Client(base_url=server.url) as admin:
            assert "Sign in" in admin.get("/login").text
            csrf = _login(admin, "boss@example.org", password)
            created = admin.post(
                "/admin/users",
                data={
                    "email": "ann@example.org",
                    "role": "annotator",
                    "password": "long-enough-1",
                    "csrf_token": csrf,
                },
            )
            assert created.status_code == 303
        with httpx.Client(base_url=server.url) as annotator:
            _login(annotator, "ann@example.org", "long-enough-1")
            for path in ("/admin/users", "/admin/tokens"):
                assert annotator.get(path).status_code == 403
    finally:
        first_log = server.stop()

    again = Server(env, cwd)  # a second start reuses everything and loses nothing
    try:
        again.wait()
        with httpx.Client(base_url=again.url) as client:
            _login(client, "ann@example.org", "long-enough-1")
    finally:
        second_log = again.stop()
    assert "Generated password" in first_log
    assert "Generated password" not in second_log
    _no_worker_left([server.url, again.url])


def _no_worker_left(urls: list[str]) -> None:
    """The worker `studio run` started stops once the app has gone (uvicorn ends on the
    signal itself, so no exit hook of the parent runs)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [
            subprocess.run(["pgrep", "-f", f"trainer --url {url} "], capture_output=True)
            for url in urls
        ]
        if all(f.returncode != 0 for f in found):
            return
        time.sleep(0.5)
    raise AssertionError("the local worker outlived studio run")


def test_run_without_demo_or_worker(live_env):
    env, cwd = live_env
    server = Server(env, cwd, options=("--no-demo", "--no-worker"))
    try:
        server.wait()
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/login").status_code == 200
    finally:
        log = server.stop()
    assert "Generated password (shown once)" in log
    assert "Loaded the demo project" not in log and "Started a trainer worker" not in log
