"""Request ids and the one JSON access line per request (logger ``app.access``).

The request id comes from a well-formed incoming ``X-Request-ID`` (nginx always sends one) or is
generated. The app does not echo it: nginx adds ``X-Request-ID`` to every response, and a second
copy from the app would duplicate the header.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import sentry_sdk
from flask import Flask, Response, g, request

access_log = logging.getLogger("app.access")
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{8,128}")


def request_id_from(header: str | None) -> str:
    """The incoming id when well-formed, else a new uuid4 hex."""
    if header is not None and REQUEST_ID_PATTERN.fullmatch(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return g.get("request_id")


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get("X-Request-ID"))
    sentry_sdk.set_tag("request_id", g.request_id)


def _log_access(response: Response) -> Response:
    started = g.get("request_started")
    duration_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "request_id": g.get("request_id"),
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(duration_ms, 2),
            # After ProxyFix: the address nginx saw, never a client-supplied X-Forwarded-For.
            "remote_addr": request.remote_addr,
            "user_agent": request.user_agent.string or None,
        },
    )
    return response


def register_request_logging(app: Flask) -> None:
    # Registered before every other hook so the id exists for them and the timing covers them.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_log_access)
