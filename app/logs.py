"""Logging: a quieter access log, and JSON lines as an option (``STUDIO_LOG_FORMAT=json``).

Trainer workers poll the worker API every few seconds and open pages poll their progress, so
uvicorn's access log printed a line for each, burying what matters (the first start's admin
password, errors). :class:`QuietAccessLog` drops those lines when they succeeded and keeps every
error.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from typing import Any

ACCESS_LOGGER = "uvicorn.access"
# Requests answered every few seconds while nothing is wrong: trainer workers' calls, health
# checks and scrapes (any method), and pages polling their progress (GET).
QUIET_PREFIXES = ("/api/v1/worker/", "/healthz", "/metrics")
QUIET_POLL_PREFIXES = ("/api/v1/tasks/",)
QUIET_POLL_SUFFIXES = ("/progress", "/live")
LOG_FORMATS = ("text", "json")


def access_fields(record: logging.LogRecord) -> dict[str, Any] | None:
    """client, method, path and status of one of uvicorn's access records (its arguments are
    ``client, method, path with query, HTTP version, status``); None for any other record."""
    args = record.args
    if record.name != ACCESS_LOGGER or not isinstance(args, tuple) or len(args) != 5:
        return None
    client, method, path, _version, status = args
    try:
        return {"client": client, "method": method, "path": path, "status": int(status)}
    except (TypeError, ValueError):
        return None


def is_quiet(method: str, path: str) -> bool:
    """Whether a successful request to ``path`` is routine polling, not worth a line."""
    path = path.split("?", 1)[0]
    if path.startswith(QUIET_PREFIXES):
        return True
    polls = path.startswith(QUIET_POLL_PREFIXES) or path.endswith(QUIET_POLL_SUFFIXES)
    return method == "GET" and polls


class QuietAccessLog(logging.Filter):
    """Drop access records of routine polls that succeeded (2xx, 3xx); keep errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = access_fields(record)
        if fields is None or fields["status"] >= 400:
            return True
        return not is_quiet(fields["method"], fields["path"])


def quiet_access_log() -> None:
    """Install :class:`QuietAccessLog` on uvicorn's access logger, once per process (uvicorn
    configures its loggers before it builds the app, so the filter outlives that)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, QuietAccessLog) for f in logger.filters):
        logger.addFilter(QuietAccessLog())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request fields of an access
    record, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(access_fields(record) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def uvicorn_log_config(log_format: str) -> dict[str, Any]:
    """The ``log_config`` for uvicorn: its own in text mode (the terminal looks as it always
    did); in JSON mode the same loggers and streams with :class:`JsonFormatter`, and the root
    logger too, so the app's own records come out as JSON lines as well."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    if log_format == "text":
        return config
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}; expected one of {LOG_FORMATS}")
    json_formatter = {"()": f"{__name__}.JsonFormatter"}
    config["formatters"] = {"default": json_formatter, "access": dict(json_formatter)}
    config["root"] = {"handlers": ["default"], "level": "INFO"}
    return config
