"""Renewals requested by `python -m acmeloop renew` in the running container.

The service's own process runs them (its log is the container's log): the command writes a
request file, wakes the service with SIGUSR1 and waits for the answer in the status file.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from .settings import Settings
from .status import locked, read_status, write_status


def pid_file(settings: Settings) -> Path:
    return settings.state_dir / "service.pid"


def service_pid(settings: Settings) -> int | None:
    """The running service's pid, if one runs here."""
    try:
        pid = int(pid_file(settings).read_text())
        # A pid left by an earlier container may now be another process.
        if b"acmeloop" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() else None


def _request_file(settings: Settings) -> Path:
    return settings.state_dir / "request.json"


def make_request(settings: Settings, force: bool) -> str:
    request_id = uuid.uuid4().hex
    temporary = _request_file(settings).with_suffix(".new")
    temporary.write_text(json.dumps({"id": request_id, "force": force}))
    os.replace(temporary, _request_file(settings))
    return request_id


def take_request(settings: Settings) -> dict | None:
    try:
        request: dict = json.loads(_request_file(settings).read_text())
        _request_file(settings).unlink()
    except (OSError, ValueError):
        return None
    return request


def answer_request(settings: Settings, request: dict, ok: bool, record: dict) -> None:
    with locked(settings):
        status = read_status(settings)
        status["answer"] = {"id": request.get("id"), "ok": ok, "record": record}
        write_status(settings, status)


def read_answer(settings: Settings, request_id: str) -> dict | None:
    answer = read_status(settings).get("answer") or {}
    return answer if answer.get("id") == request_id else None
