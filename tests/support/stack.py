"""Docker and Compose for the tests: run commands, inspect containers, wait, stop and start.

Only the standard library: the benchmark imports it too.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from .settings import COMPOSE_SH, POSTGRES_DB, POSTGRES_USER, ROOT

SUPPORT_DIR = ROOT / "tests" / "support"


class WaitTimeout(AssertionError):
    """A condition that did not come true in time (a test failure, not an error)."""


def compose(
    *args: str, check: bool = True, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `docker compose` on this project through scripts/compose.sh (the images `make up`
    uses), from its root, with this environment plus ENV."""
    return subprocess.run(
        [str(COMPOSE_SH), *args],
        cwd=ROOT, check=check, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def docker(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], check=check, capture_output=True, text=True, timeout=timeout
    )


def container_id(service: str) -> str:
    return compose("ps", "--all", "-q", service).stdout.strip()


def inspect(service: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(docker("inspect", container_id(service)).stdout)[0]
    return state


def wait_for(
    condition: Callable[[], bool], timeout: float = 60, interval: float = 0.5, what: str = ""
) -> None:
    """Poll until condition() is true; fail with WHAT after TIMEOUT seconds. Errors of the
    condition (a connection refused, a command failing) count as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError, LookupError):
            if condition():
                return
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what or condition.__name__}")


def service_health(service: str) -> str:
    state = inspect(service)["State"]
    health: str = state.get("Health", {}).get("Status", state["Status"])
    return health


def wait_healthy(service: str, timeout: float = 120) -> None:
    wait_for(lambda: service_health(service) == "healthy", timeout, 1, f"{service} healthy")


@contextlib.contextmanager
def stopped(service: str) -> Iterator[None]:
    """Stop a service for the block; then start it again and wait until it is healthy."""
    compose("stop", service)
    try:
        yield
    finally:
        compose("start", service)
        wait_healthy(service)


def redis_cli(*args: str) -> str:
    """Run redis-cli inside the redis container, authenticated from the mounted secret."""
    command = 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" exec redis-cli "$@"'
    return compose("exec", "-T", "redis", "sh", "-c", command, "redis-cli", *args).stdout.strip()


def psql(sql: str, database: str = POSTGRES_DB, user: str = POSTGRES_USER) -> str:
    """Run one SQL statement with psql inside the postgres container; unaligned output."""
    return compose(
        "exec", "-T", "postgres", "psql", "-U", user, "-d", database, "-At",
        "-v", "ON_ERROR_STOP=1", "-c", sql,
    ).stdout.strip()  # fmt: skip


def json_log_lines(service: str, since: str = "5m") -> list[dict[str, Any]]:
    """A service's JSON log lines (other lines skipped)."""
    logs = compose("logs", "--no-color", "--no-log-prefix", "--since", since, service).stdout
    lines = []
    for line in logs.splitlines():
        if "{" in line:
            with contextlib.suppress(json.JSONDecodeError):
                lines.append(json.loads(line[line.index("{") :]))
    return lines


def run_in(service: str, script: str) -> str:
    """Run a Python file of tests/support inside a service's container (fed on stdin)."""
    source = (SUPPORT_DIR / script).read_text()
    result = subprocess.run(
        [str(COMPOSE_SH), "exec", "-T", service, "python", "-"],
        cwd=ROOT, input=source, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout


def gunicorn_processes(service: str = "app") -> tuple[int, list[int]]:
    """(master pid, worker pids) of gunicorn inside the container, as the container sees them."""
    table = [line.split("|", 2) for line in run_in(service, "proc_table.py").splitlines()]
    gunicorn = {
        int(pid): int(ppid)
        for pid, ppid, cmd in (row for row in table if len(row) == 3)
        if "gunicorn" in cmd and "docker-init" not in cmd
    }
    masters = [pid for pid, ppid in gunicorn.items() if ppid not in gunicorn]
    assert len(masters) == 1, f"expected one gunicorn master, found {masters}"
    master = masters[0]
    return master, sorted(pid for pid, ppid in gunicorn.items() if ppid == master)


@contextlib.contextmanager
def capture_server(network: str, name: str, image: str) -> Iterator[str]:
    """Run tests/support/capture_server.py in a container on NETWORK; yield its name. It
    prints every POST body it receives as one `ENVELOPE ...` line (see `captured`)."""
    docker(
        "run", "-d", "--rm", "--name", name, "--network", network, "--read-only",
        "-v", f"{SUPPORT_DIR / 'capture_server.py'}:/capture_server.py:ro",
        "--entrypoint", "python", image, "/capture_server.py",
    )  # fmt: skip
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def captured(name: str) -> list[str]:
    """The bodies a capture server has received so far."""
    logs = docker("logs", name, check=False).stdout
    return [line[len("ENVELOPE ") :] for line in logs.splitlines() if line.startswith("ENVELOPE ")]


@contextlib.contextmanager
def overridden(
    service: str, settings: dict[str, Any], top: dict[str, Any] | None = None, wait: bool = True
) -> Iterator[None]:
    """Recreate SERVICE with a Compose override for the block (SETTINGS merged into the
    service, TOP into the file: a test setting, an extra config), then recreate it from
    compose.yaml and .env alone."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=ROOT, prefix=".test-override-") as f:
        json.dump({"services": {service: settings}, **(top or {})}, f)
        f.flush()
        waiting = ["--wait", "--wait-timeout", "120"] if wait else []
        compose("-f", "compose.yaml", "-f", f.name, "up", "-d", "--no-deps", *waiting, service)
        try:
            yield
        finally:
            compose("up", "-d", "--no-deps", *waiting, service)
