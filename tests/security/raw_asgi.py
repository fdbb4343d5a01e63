"""Drive the real application at the ASGI level with a body the test feeds chunk by chunk, and
count how much of it the application asked for: what a server would have read off the socket."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi.testclient import TestClient

CHUNK = 64 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int  # non-empty body messages the application received
    bytes_read: int

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


def chunks(total: int, *, size: int = CHUNK, fill: bytes = b" ") -> Iterator[bytes]:
    """``total`` bytes of ``fill`` in chunks of ``size`` (made as they are asked for)."""
    while total > 0:
        yield fill * min(size, total)
        total -= size


def exchange(
    app,
    method: str,
    path: str,
    *,
    body: Iterable[bytes] = (),
    headers: dict[str, str] | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> Answer:
    """One request through ``app``; ``headers`` are sent as given (no Content-Length is added,
    so a body without one arrives as a chunked upload would). ``on_chunk(n)`` runs before the
    n-th chunk is handed over."""
    sent = {"host": "testserver", **(headers or {})}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    pending = iter(body)
    read = {"chunks": 0, "bytes": 0, "ended": False}
    start: dict[str, Any] = {}
    received = bytearray()

    async def run() -> None:
        done = anyio.Event()

        async def receive() -> dict[str, Any]:
            if not read["ended"]:
                chunk = next(pending, None)
                if chunk is None:
                    read["ended"] = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                read["chunks"] += 1
                read["bytes"] += len(chunk)
                if on_chunk:
                    on_chunk(read["chunks"])
                return {"type": "http.request", "body": chunk, "more_body": True}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start["status"] = message["status"]
                start["headers"] = {
                    k.decode().lower(): v.decode() for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body":
                received.extend(message.get("body", b""))
                if not message.get("more_body"):
                    done.set()

        await app(scope, receive, send)

    # A thread of its own: the browser tests' Playwright keeps an event loop in the main thread
    # for the whole session, and a second loop may not start there.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(anyio.run, run).result()
    return Answer(start["status"], start["headers"], bytes(received), read["chunks"], read["bytes"])


def cookie_header(client: TestClient) -> str:
    """The cookies a signed-in TestClient holds, as a Cookie header."""
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())
