"""One log schema for every Python service of the running stack (pyservice/logs.py,
docs/observability.md#the-python-services-log-schema): the app, the worker, the scheduler and
acme write nothing but JSON objects, one a line, on stdout, each starting with the same five
keys and a level spelled as Python names it; the backup service (its profile is off in this
stack) writes the same lines from a one-off run of its command."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support import images
from tests.support.stack import compose, container_ids, docker

SERVICES = ("app", "worker", "scheduler", "acme")
FIELDS = ["timestamp", "level", "logger", "message", "pid"]
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def off_schema(text: str) -> str | None:
    """Why a log line is not of the schema, or None when it is."""
    try:
        line: Any = json.loads(text)
    except json.JSONDecodeError:
        return "not JSON"
    if not isinstance(line, dict):
        return "not a JSON object"
    if list(line)[: len(FIELDS)] != FIELDS:
        return f"its first keys are {list(line)[: len(FIELDS)]}, not {FIELDS}"
    if line["level"] not in LEVELS:
        return f"level {line['level']!r}"
    if not TIMESTAMP.fullmatch(str(line["timestamp"])):
        return f"timestamp {line['timestamp']!r}"
    if not isinstance(line["pid"], int) or not isinstance(line["message"], str):
        return "pid or message of the wrong type"
    return None


def offenders(source: str, out: str, err: str) -> list[str]:
    found = [f"{source} on stderr: {text[:300]}" for text in err.splitlines() if text.strip()]
    for text in out.splitlines():
        reason = off_schema(text) if text.strip() else "an empty line"
        if reason:
            found.append(f"{source}: {reason}: {text[:300]}")
    return found


def test_every_line_of_every_python_service_is_one_json_object_of_the_schema():
    """Each container's whole log since it started, stdout and stderr apart (docker logs):
    every line on stdout is of the schema, none is on stderr, and each service wrote some."""
    found: list[str] = []
    for service in SERVICES:
        ids = container_ids(service, running=True)
        assert ids, f"no {service} container runs"
        for cid in ids:
            logs = docker("logs", cid, timeout=120)
            assert logs.stdout.strip(), f"{service} ({cid[:12]}) has written no line yet"
            found += offenders(f"{service} {cid[:12]}", logs.stdout, logs.stderr)
    assert not found, "\n".join(found[:20])


def test_the_backup_services_lines_are_of_the_same_schema():
    """Its command, run once: a setting it refuses is one line of the schema on stdout, an
    ERROR with its event and outcome."""
    images.backup()
    result = compose(
        "--profile", "backup", "run", "--rm", "--no-deps", "-T", "-e", "BACKUP_KEEP=0",
        "backup", "python", "-m", "pgbackup", "backup", check=False, timeout=180,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    container_output = [text for text in result.stdout.splitlines() if text.startswith("{")]
    assert not offenders("backup", "\n".join(container_output), "")
    [line] = [json.loads(text) for text in container_output]
    assert (line["logger"], line["level"], line["event"], line["outcome"]) == (
        "backup",
        "ERROR",
        "settings",
        "failure",
    )
    assert "BACKUP_KEEP must be at least 1" in line["message"]
