"""`studio run` (or another `studio` command) as a real process on a free port, for the live,
worker and browser tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

STUDIO = shutil.which("studio") or str(Path(sys.executable).parent / "studio")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(
        self,
        env: dict[str, str],
        cwd: Path,
        command: str = "run",
        port: int | None = None,
        options: tuple[str, ...] = (),
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"server-{self.port}.log"
        # The suite runs two test processes on two cores, each with servers whose workers
        # train: one torch thread per worker, or their threads spin against each other and a
        # job of seconds takes minutes.
        env = {"OMP_NUM_THREADS": "1", **env}
        self.proc = subprocess.Popen(
            [STUDIO, command, "--port", str(self.port), *options],
            env=env,
            cwd=cwd,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError(f"server did not start: {self.log.read_text()}")

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        return self.log.read_text()
