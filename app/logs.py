"""The app's logs: the stack's JSON lines (pyservice/logs.py: the schema, the formatter and
gunicorn's writer-thread handler), plus the request id on every line written while a request
is handled.

gunicorn's ``logconfig_dict`` (gunicorn.conf.py) names ``pyservice.logs`` itself, so that
gunicorn's master never imports the app; the request id joins the lines of a process once it
has imported this module (every worker does, through the app).
"""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context

from pyservice.logs import (
    JsonFormatter,
    WriterThreadHandler,
    add_context,
    configure_logging,
    start_log_writers,
    utc_timestamp,
)

__all__ = [
    "JsonFormatter",
    "WriterThreadHandler",
    "configure_logging",
    "start_log_writers",
    "utc_timestamp",
]


def request_context() -> dict[str, Any]:
    """The id of the request being handled, on every line it writes, not only the access
    line."""
    if has_request_context() and g.get("request_id"):
        return {"request_id": g.request_id}
    return {}


add_context(request_context)
