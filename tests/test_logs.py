"""The quiet access log and JSON log lines, on the records uvicorn really writes."""

from __future__ import annotations

import json
import logging
import logging.config
import socket
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from app import logs
from app.core import job_paths
from app.main import create_app

CLAIM = "/api/v1" + job_paths.WorkerPath.CLAIM


def access_record(method: str, path: str, status: int) -> logging.LogRecord:
    """A record as uvicorn's HTTP protocols log one (``uvicorn/protocols/http``)."""
    return logging.LogRecord(
        name="uvicorn.access",
        level=logging.INFO,
        pathname=__file__,
        lineno=1,
        msg='%s - "%s %s HTTP/%s" %d',
        args=("127.0.0.1:50000", method, path, "1.1", status),
        exc_info=None,
    )


class TestQuietAccessLog:
    keep = logs.QuietAccessLog().filter

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", CLAIM),
            ("POST", "/api/v1/worker/jobs/7/heartbeat"),
            ("GET", "/healthz"),
            ("GET", "/metrics"),
            ("GET", "/imports/3/progress"),
            ("GET", "/tasks/4/progress?follow=1"),
            ("GET", "/jobs/5/live"),
            ("GET", "/api/v1/tasks/4"),
        ],
    )
    def test_routine_polls_that_succeed_are_dropped(self, method, path):
        assert not self.keep(access_record(method, path, 200))
        assert not self.keep(access_record(method, path, 304))

    @pytest.mark.parametrize("status", [400, 401, 404, 409, 500, 503])
    def test_their_errors_are_kept(self, status):
        assert self.keep(access_record("POST", CLAIM, status))
        assert self.keep(access_record("GET", "/imports/3/progress", status))

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/"),
            ("GET", "/projects/1/items"),
            ("POST", "/login"),
            ("POST", "/api/v1/tasks/4/cancel"),  # a state change, not a poll
            ("GET", "/api/v1/workers"),  # not the worker API
        ],
    )
    def test_ordinary_requests_are_kept(self, method, path):
        assert self.keep(access_record(method, path, 200))

    def test_other_records_pass(self):
        record = logging.LogRecord("studio", logging.INFO, __file__, 1, "hello %s", ("x",), None)
        assert self.keep(record)


class TestOverARealServer:
    """uvicorn's own access records, through the filter create_app installs."""

    @pytest.fixture
    def served(self, app) -> Iterator[tuple[str, list[logging.LogRecord]]]:
        kept: list[logging.LogRecord] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                kept.append(record)

        access = logging.getLogger("uvicorn.access")
        handler, level = Keep(), access.level
        access.addHandler(handler)  # uvicorn writes access records only when there is a handler
        access.setLevel(logging.INFO)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        config = uvicorn.Config(app, log_config=None, lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
        thread.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}", kept
        finally:
            server.should_exit = True
            thread.join(30)
            access.removeHandler(handler)
            access.setLevel(level)

    def test_a_worker_poll_is_dropped_and_its_failure_and_a_page_kept(self, served):
        url, kept = served
        with httpx.Client(base_url=url) as client:
            assert client.get("/healthz").status_code == 200
            assert client.post(CLAIM, json={"worker": "w"}).status_code == 401
            assert client.get("/login").status_code == 200
        lines = [(r.args[1], r.args[2], r.args[4]) for r in kept]
        assert lines == [("POST", CLAIM, 401), ("GET", "/login", 200)]

    def test_create_app_installs_the_filter_once(self, app, settings, engine):
        create_app(settings, engine=engine)
        access = logging.getLogger("uvicorn.access")
        assert sum(isinstance(f, logs.QuietAccessLog) for f in access.filters) == 1


class TestJsonFormatter:
    def test_an_access_record_is_one_json_line_with_its_request(self):
        line = logs.JsonFormatter().format(access_record("GET", "/projects/1?page=2", 404))
        assert "\n" not in line
        entry = json.loads(line)
        assert entry["level"] == "INFO"
        assert entry["logger"] == "uvicorn.access"
        assert entry["message"] == '127.0.0.1:50000 - "GET /projects/1?page=2 HTTP/1.1" 404'
        assert (entry["client"], entry["method"], entry["path"], entry["status"]) == (
            "127.0.0.1:50000",
            "GET",
            "/projects/1?page=2",
            404,
        )
        assert entry["time"].endswith("+00:00")

    def test_an_app_record_keeps_its_text_and_traceback_on_one_line(self):
        try:
            raise RuntimeError("the database is unavailable")
        except RuntimeError:
            record = logging.LogRecord(
                "studio",
                logging.ERROR,
                __file__,
                1,
                "health %s\nfailed",
                ("check",),
                sys.exc_info(),
            )
        line = logs.JsonFormatter().format(record)
        assert "\n" not in line
        entry = json.loads(line)
        assert entry["message"] == "health check\nfailed"
        assert (entry["level"], entry["logger"]) == ("ERROR", "studio")
        assert "RuntimeError: the database is unavailable" in entry["exception"]
        assert "method" not in entry

    def test_chinese_is_written_as_it_is(self):
        record = logging.LogRecord("studio", logging.INFO, __file__, 1, "导入完成", None, None)
        assert "导入完成" in logs.JsonFormatter().format(record)


class TestServeLogConfig:
    def test_text_is_uvicorns_own(self):
        from uvicorn.config import LOGGING_CONFIG

        assert logs.uvicorn_log_config("text") == LOGGING_CONFIG

    def test_json_applies_to_uvicorn_and_the_root_logger(self, capsys):
        config = logs.uvicorn_log_config("json")
        saved = {
            name: (logger.handlers[:], logger.level, logger.propagate)
            for name in ("", "uvicorn", "uvicorn.access")
            for logger in [logging.getLogger(name)]
        }
        try:
            logging.config.dictConfig(config)
            logging.getLogger("studio.test").warning("queue %s", "stalled")
            logging.getLogger("uvicorn.access").info(*_access_args())
        finally:
            for name, (handlers, level, propagate) in saved.items():
                logger = logging.getLogger(name)
                logger.handlers[:] = handlers
                logger.setLevel(level)
                logger.propagate = propagate
        captured = capsys.readouterr()
        app_line = json.loads(captured.err.strip().splitlines()[-1])
        assert (app_line["logger"], app_line["message"]) == ("studio.test", "queue stalled")
        access_line = json.loads(captured.out.strip().splitlines()[-1])
        assert (access_line["path"], access_line["status"]) == ("/", 200)

    def test_an_unknown_format_is_refused(self):
        with pytest.raises(ValueError, match="unknown log format"):
            logs.uvicorn_log_config("xml")


def _access_args() -> tuple:
    return ('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/", "1.1", 200)
