"""Browser tests: Playwright driving Debian's Chromium against a real `studio run`."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.db import make_engine
from tests.conftest import live_backend
from tests.dbs import IN_CI, fresh_database
from tests.live_server import STUDIO, Server

CHROMIUM = "/usr/bin/chromium"
ADMIN_PASSWORD = "admin-password-1"


def _chromium_or_skip() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-gpu",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live(tmp_path_factory):
    """A running app with its database; yields (server, engine)."""
    tmp = tmp_path_factory.mktemp("live")
    with fresh_database(live_backend(), tmp) as url:
        env = {
            **os.environ,
            "STUDIO_DATABASE_URL": url,
            "STUDIO_VAR_DIR": str(tmp / "var"),
            "STUDIO_ADMIN_EMAIL": "admin@example.org",
            "STUDIO_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        server = Server(env, tmp)
        engine = make_engine(url)
        try:
            server.wait()
            server.env = env
            _wait_for_the_demo_job_to_be_claimed(engine)
            yield server, engine
        finally:
            engine.dispose()
            server.stop()


def _wait_for_the_demo_job_to_be_claimed(engine, timeout: float = 60) -> None:
    """The demo queues a tiny job that the server's worker takes at once. Until it does, a
    test that claims its own job as a worker (``tests.job_factories.run_job``) would take the
    demo's, the oldest queued."""
    from app.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine) as session:
            if session.scalar(sa.select(Job.id).where(Job.status == "queued").limit(1)) is None:
                return
        time.sleep(0.2)
    raise AssertionError("the server's worker did not claim the demo's job")


@pytest.fixture
def db(live):
    """A committed session on the live database (setup data the server must see)."""
    _server, engine = live
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.commit()


def studio_cli(server, *args: str) -> str:
    out = subprocess.run(
        [STUDIO, *args], env=server.env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, f"studio {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture
def page(browser, live):
    server, _ = live
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def new_page(browser, live):
    """Open more pages, each in its own browser context (so each signs in on its own)."""
    server, _ = live
    contexts = []

    def open_page(width: int = 1280, height: int = 900):
        context = browser.new_context(
            base_url=server.url, viewport={"width": width, "height": height}
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        return page

    yield open_page
    for context in contexts:
        context.close()


@dataclass(frozen=True)
class DemoData:
    project_id: int
    project_name: str
    version_id: int
    version_name: str
    password: str


@pytest.fixture
def demo(db) -> DemoData:
    """The demo project and its first dataset version, as `studio run` loaded them."""
    from app.demo.loader import DEMO_PASSWORD, FIRST_VERSION, load_content
    from app.models import DatasetVersion, Project

    name = load_content().project["name"]
    project = db.scalar(sa.select(Project).where(Project.name == name))
    assert project is not None, "studio run did not load the demo project"
    version = db.scalar(
        sa.select(DatasetVersion).where(
            DatasetVersion.project_id == project.id, DatasetVersion.name == FIRST_VERSION
        )
    )
    assert version is not None, f"the demo has no version {FIRST_VERSION!r}"
    return DemoData(project.id, project.name, version.id, version.name, DEMO_PASSWORD)


def sign_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


__all__ = ["sa", "sign_in", "studio_cli"]
