"""Label Studio, the reference of design §7, as ``bench/labelstudio.py`` drives it: installed into
its own virtual environment (``bench/.venv-labelstudio``, never the project's), started with
``label-studio start`` on a loopback port with its SQLite database under a work folder, and
called through its own REST API.

A helper of ``bench/labelstudio.py``, not a benchmark: ``make bench`` leaves it out.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
LS_VERSION = "1.23.2"
LS_VENV = ROOT / "bench" / ".venv-labelstudio"
LS_PYTHON = LS_VENV / "bin" / "python"
LS_COMMAND = LS_VENV / "bin" / "label-studio"
INSTALL_TIMEOUT_S = 1800
START_TIMEOUT_S = 300  # the first start migrates an empty SQLite database (~25 s on 2 cores)
STOP_TIMEOUT_S = 15
USERNAME = "bench@localhost"
PASSWORD = "bench-password-0"
# A legacy API token ("Authorization: Token ..."): LS 1.23 turns those off for new
# organizations unless `--enable-legacy-api-token` is given, which the server start does.
TOKEN = "bench0labelstudio0token0000000000000000"
# What a team labeling instruction data would set up: the three texts shown, one answer to
# write. LS requires the data keys named here to exist in every imported task.
LABEL_CONFIG = """<View>
  <Header value="Instruction"/>
  <Text name="instruction" value="$instruction"/>
  <Header value="Input"/>
  <Text name="input" value="$input"/>
  <Header value="Output"/>
  <Text name="output" value="$output"/>
  <TextArea name="answer" toName="output" rows="6" editable="true" maxSubmissions="1"
            placeholder="Write or correct the answer"/>
</View>"""
# Off: they call out to the network (a first-party Sentry DSN is on by default, and a PyPI
# version check), which this machine may not reach and which no timing should include.
# The database is pinned to SQLite, LS's default, so that no DJANGO_DB in the caller's
# environment moves it.
QUIET_ENV = {
    "LABEL_STUDIO_DJANGO_DB": "sqlite",
    "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
    "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
    "LABEL_STUDIO_SENTRY_DSN": "",
    "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
}


def log(message: str) -> None:
    print(f"[bench/labelstudio {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def installed_version() -> str | None:
    if not LS_PYTHON.exists():
        return None
    found = subprocess.run(
        [str(LS_PYTHON), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip() if found.returncode == 0 else None


def ensure_installed(log_path: Path) -> str | None:
    """``bench/.venv-labelstudio`` with Label Studio pinned, created on first use; None when it is
    ready, else why not (pip's output goes to ``log_path``)."""
    if installed_version() == LS_VERSION:
        return None
    log(f"installing label-studio=={LS_VERSION} into {LS_VENV.relative_to(ROOT)} (minutes)")
    pip = [str(LS_PYTHON), "-m", "pip", "install", "--quiet", f"label-studio=={LS_VERSION}"]
    with log_path.open("wb") as out:
        try:
            subprocess.run([sys.executable, "-m", "venv", str(LS_VENV)], check=True, stdout=out)
            subprocess.run(
                pip, check=True, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S
            )
        except (OSError, subprocess.SubprocessError) as exc:
            lines = log_path.read_text(errors="replace").strip().splitlines() or [str(exc)]
            last = next((line for line in reversed(lines) if "ERROR" in line), lines[-1])
            return f"pip install label-studio=={LS_VERSION} failed: {last[:300]} (see {log_path})"
    found = installed_version()
    return None if found == LS_VERSION else f"installed label-studio is {found}, not {LS_VERSION}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends it SIGTERM if the bench dies (even by
    SIGKILL), so that no Label Studio outlives it."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    """``label-studio start`` from its own venv, on a free loopback port, data under ``data_dir``,
    with the bench user (created by that command: username, password and token flags)."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [
            str(LS_COMMAND),
            "start",
            "--no-browser",
            "--data-dir",
            str(data_dir),
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--username",
            USERNAME,
            "--password",
            PASSWORD,
            "--user-token",
            TOKEN,
            "--enable-legacy-api-token",
        ]
        self._log = log_path.open("wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            command,
            cwd=data_dir.parent,
            env={**os.environ, **QUIET_ENV},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
            preexec_fn=_die_with_parent,
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        self.startup_s = round(time.perf_counter() - started, 1)

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"label-studio exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                answer = httpx.get(f"{self.base}/api/version", headers=auth_headers(), timeout=5)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"label-studio did not answer in {START_TIMEOUT_S} s:\n{self.tail()}"
                )
            time.sleep(0.5)

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def memory_mb(self) -> dict[str, float | None]:
        """VmRSS now and VmHWM (the peak since start) of the server process."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return {"VmRSS": None, "VmHWM": None}
        values: dict[str, float | None] = {}
        for key in ("VmRSS", "VmHWM"):
            match = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
            values[key] = round(int(match.group(1)) / 1024, 1) if match else None
        return values

    def stop(self) -> None:
        if self.proc.poll() is None:
            for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)  # the group this Popen created
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._log.close()


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Token {TOKEN}"}


class Client:
    """The REST calls the bench makes, each as LS's own frontend or its API docs make it."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, headers=auth_headers(), timeout=60)

    def close(self) -> None:
        self.http.close()

    def _json(self, response: httpx.Response) -> Any:
        if response.is_error:
            raise RuntimeError(
                f"{response.request.method} {response.request.url.path} -> "
                f"{response.status_code}: {response.text[:500]}"
            )
        return response.json()

    def version(self) -> str:
        return self._json(self.http.get("/api/version"))["release"]

    def create_project(self, title: str) -> int:
        body = {"title": title, "label_config": LABEL_CONFIG}
        return self._json(self.http.post("/api/projects", json=body))["id"]

    def task_count(self, project_id: int) -> int:
        return self._json(self.http.get(f"/api/projects/{project_id}"))["task_number"]

    def import_tasks(self, project_id: int, body: bytes) -> httpx.Response:
        """One POST of a JSON list of ``{"data": {...}}`` (the caller checks the status)."""
        return self.http.post(
            f"/api/projects/{project_id}/import",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=None,
        )

    def export_to(self, project_id: int, path: Path) -> int:
        """The synchronous JSON export of every task, streamed to ``path``; returns its bytes."""
        params = {"exportType": "JSON", "download_all_tasks": "true"}
        url = f"/api/projects/{project_id}/export"
        with self.http.stream("GET", url, params=params, timeout=None) as response:
            if response.is_error:
                response.read()
                self._json(response)
            with path.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
        return path.stat().st_size

    def create_view(self, project_id: int) -> int:
        """The data manager's default tab, which its frontend creates when a project has none."""
        return self._json(self.http.post("/api/dm/views", json=view_body(project_id, None)))["id"]

    def set_filters(self, project_id: int, view_id: int, filters: dict | None) -> None:
        self._json(self.http.patch(f"/api/dm/views/{view_id}", json=view_body(project_id, filters)))


def view_body(project_id: int, filters: dict | None) -> dict:
    return {
        "project": project_id,
        "data": {
            "title": "Default",
            "type": "list",
            "target": "tasks",
            "filters": filters or {"conjunction": "and", "items": []},
            "ordering": [],
        },
    }


def contains_any_field(word: str, fields: tuple[str, ...]) -> dict:
    """The data manager filter a user sets to find tasks whose texts contain ``word``: one
    ``contains`` row per field, joined by "or" (LS runs it as ``data__<field>__icontains``)."""
    return {
        "conjunction": "or",
        "items": [
            {
                "filter": f"filter:tasks:data.{field}",
                "operator": "contains",
                "type": "String",
                "value": word,
            }
            for field in fields
        ],
    }
