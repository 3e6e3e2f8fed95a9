"""JSON logging to stdout: one object per line with timestamp, level, logger and message, and
the request id on every line written while a request is handled.

gunicorn's ``logconfig_dict`` uses the same formatter with ``{"()": "app.logs.JsonFormatter"}``.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter


def utc_timestamp(created: float) -> str:
    """Format a Unix time as ISO-8601 UTC with milliseconds and a ``Z``."""
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(_BaseJsonFormatter):
    """python-json-logger formatter whose first fields are always the same four."""

    def add_fields(
        self,
        log_record: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        log_record["timestamp"] = utc_timestamp(record.created)
        log_record["level"] = record.levelname
        log_record["logger"] = record.name
        log_record["message"] = record.getMessage()
        # Which gunicorn worker wrote the line: tells workers apart in logs and in tests.
        log_record["pid"] = record.process
        super().add_fields(log_record, record, message_dict)
        # Every line written while a request is handled carries its id, not only the access line.
        if "request_id" not in log_record and has_request_context() and g.get("request_id"):
            log_record["request_id"] = g.request_id


class _StdoutJsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs, recognisable so it is installed once."""


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records to stdout as JSON lines; safe to call more than once."""
    root = logging.getLogger()
    root.setLevel(level)
    for existing in list(root.handlers):
        if isinstance(existing, _StdoutJsonHandler):
            root.removeHandler(existing)
    # A root handler that already writes JSON (gunicorn's logconfig_dict) would print each
    # line twice if a second one were added; handlers of other kinds (a test runner's) stay.
    if any(isinstance(h.formatter, _BaseJsonFormatter) for h in root.handlers):
        return
    handler = _StdoutJsonHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
