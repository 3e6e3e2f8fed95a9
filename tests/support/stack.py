"""Docker and Compose for the tests: run commands, inspect containers, wait, stop and start.

Only the standard library: the benchmark imports it too.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from .settings import COMPOSE_SH, POSTGRES_DB, POSTGRES_USER, PROJECT, ROOT, compose_config

SUPPORT_DIR = ROOT / "tests" / "support"


class WaitTimeout(AssertionError):
    """A condition that did not come true in time (a test failure, not an error)."""


def compose(
    *args: str, check: bool = True, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `docker compose` on this project through scripts/compose.sh (the images `make up`
    uses), from its root, with this environment plus ENV. `exec -T SERVICE ...` runs as
    `docker exec` in the service's container: the same command, without Compose reading the
    project each time (a tenth of the time and of the CPU, and the tests poll with it)."""
    if env is None and args[:2] == ("exec", "-T"):
        direct = _docker_exec(args[2:])
        if direct:
            return subprocess.run(direct, check=check, capture_output=True, text=True,
                                  timeout=timeout)  # fmt: skip
    return subprocess.run(
        [str(COMPOSE_SH), *args],
        cwd=ROOT, check=check, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def _docker_exec(args: tuple[str, ...]) -> list[str] | None:
    """`docker exec` for the arguments of `compose exec -T` (`-e NAME=VALUE` options, the
    service, the command); None when the service runs no container (Compose then says so)."""
    options: list[str] = []
    rest = list(args)
    while rest[:1] == ["-e"] and len(rest) > 1:
        options += rest[:2]
        rest = rest[2:]
    if not rest or rest[0].startswith("-"):
        return None
    ids = container_ids(rest[0], running=True)
    return ["docker", "exec", "-i", *options, ids[0], *rest[1:]] if ids else None


def container_ids(service: str, running: bool = False) -> list[str]:
    """The service's containers (not `compose run`'s one-offs), by their number, as Compose
    labels them; RUNNING for those that run."""
    labels = [f"com.docker.compose.project={PROJECT}", f"com.docker.compose.service={service}",
              "com.docker.compose.oneoff=False"]  # fmt: skip
    listed = subprocess.run(
        ["docker", "ps", *([] if running else ["--all"]),
         *(arg for label in labels for arg in ("--filter", f"label={label}")),
         "--format", '{{.ID}} {{.Label "com.docker.compose.container-number"}}'],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.split("\n")  # fmt: skip
    numbered = sorted((int(number), cid) for cid, number in map(str.split, filter(None, listed)))
    return [cid for _, cid in numbered]


def with_compose_file(path: str) -> dict[str, str]:
    """The environment that puts the Compose file PATH on top of the stack's own files
    (compose.yaml, or COMPOSE_FILE's list: `make test-e2e` adds the suite's timers)."""
    return {"COMPOSE_FILE": f"{os.environ.get('COMPOSE_FILE') or 'compose.yaml'}:{path}"}


def docker(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], check=check, capture_output=True, text=True, timeout=timeout
    )


def container_id(service: str) -> str:
    """The service's (first) container."""
    ids = container_ids(service)
    if not ids:
        raise LookupError(f"no container of {service}")
    return ids[0]


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


def run_healthcheck(service: str) -> subprocess.CompletedProcess[str]:
    """The service's healthcheck command, as Docker runs it, run once now in its container:
    the check's own verdict, without waiting for Docker's interval and retries."""
    test = inspect(service)["Config"]["Healthcheck"]["Test"]
    command = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    return docker("exec", container_id(service), *command, check=False, timeout=60)


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


def _redis_as_app(*command: str) -> str:
    """Run redis-cli in the redis container as the app's ACL user, on the app's own keys."""
    auth = 'REDISCLI_AUTH="$(cat /run/secrets/redis_app_password)" exec redis-cli "$@"'
    return compose("exec", "-T", "redis", "sh", "-c", auth, "redis-cli", "--no-auth-warning",
                   "--user", "app", *command).stdout.strip()  # fmt: skip


def _cache_key(key: str) -> str:
    return str(compose_config()["services"]["app"]["environment"]["CACHE_KEY_PREFIX"]) + key


def cache_entry(key: str) -> dict[str, Any] | None:
    """The app's cache entry for KEY (`item:<id>`, `stats`) as JSON; None when there is none."""
    raw = _redis_as_app("GET", _cache_key(key))
    entry: dict[str, Any] | None = json.loads(raw) if raw else None
    return entry


def drop_cache_entry(key: str) -> None:
    _redis_as_app("DEL", _cache_key(key))


def psql(
    sql: str, database: str = POSTGRES_DB, user: str = POSTGRES_USER, timeout: float = 180
) -> str:
    """Run one SQL statement with psql inside the postgres container; unaligned output."""
    return compose(
        "exec", "-T", "postgres", "psql", "-U", user, "-d", database, "-At",
        "-v", "ON_ERROR_STOP=1", "-c", sql, timeout=timeout,
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
    service: str,
    settings: dict[str, Any],
    top: dict[str, Any] | None = None,
    wait: bool = True,
    scale: int | None = None,
    force_recreate: bool = False,
) -> Iterator[None]:
    """Recreate SERVICE with a Compose override for the block (SETTINGS merged into the
    service, TOP into the file: a test setting, an extra config), SCALE containers of it if
    given, then recreate it from compose.yaml and .env alone. FORCE_RECREATE when the override
    changes only what Compose does not hash into the service (a secret's file), both ways."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=ROOT, prefix=".test-override-") as f:
        json.dump({"services": {service: settings}, **(top or {})}, f)
        f.flush()
        # Not --no-deps: Compose would hash the service without its dependencies, and the next
        # `make up` would recreate it.
        waiting = ["--wait", "--wait-timeout", "120"] if wait else []
        scaling = ["--scale", f"{service}={scale}"] if scale else []
        forcing = ["--force-recreate"] if force_recreate else []
        compose("up", "-d", "--no-build", *waiting, *scaling, *forcing, service,
                env=with_compose_file(f.name))  # fmt: skip
        try:
            yield
        finally:
            compose("up", "-d", "--no-build", *waiting, *forcing, service)


@contextlib.contextmanager
def outside_host(port: int = 8099) -> Iterator[str]:
    """A host outside every Docker network: a network namespace behind a veth pair, routed by
    this machine like any address beyond it, with an HTTP server on PORT. Yields its address.
    Needs root (or passwordless sudo) for `ip netns`."""
    suffix = uuid.uuid4().hex[:6]
    namespace, veth = f"fsout-{suffix}", f"fsv{suffix}"
    subnet = 16 + int(suffix[:2], 16) % 200  # 10.254.<subnet>.0/30, unlikely to be taken
    host_ip, outside_ip = f"10.254.{subnet}.1", f"10.254.{subnet}.2"
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]

    def ip(*args: str, netns: bool = False) -> None:
        prefix = ["ip", "netns", "exec", namespace] if netns else []
        subprocess.run([*sudo, *prefix, "ip", *args], check=True, capture_output=True, timeout=30)

    ip("netns", "add", namespace)
    server = None
    try:
        ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        ip("addr", "add", f"{host_ip}/30", "dev", veth)
        ip("link", "set", veth, "up")
        ip("addr", "add", f"{outside_ip}/30", "dev", "eth0", netns=True)
        ip("link", "set", "eth0", "up", netns=True)
        ip("link", "set", "lo", "up", netns=True)
        ip("route", "add", "default", "via", host_ip, netns=True)
        server = subprocess.Popen(
            [*sudo, "ip", "netns", "exec", namespace, "python3", "-m", "http.server",
             str(port), "--bind", outside_ip, "--directory", tempfile.mkdtemp()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def listening() -> bool:
            with socket.create_connection((outside_ip, port), timeout=1):
                return True

        wait_for(listening, 20, 0.2, "the outside host's server")
        yield outside_ip
    finally:
        if server is not None:
            server.kill()
        subprocess.run([*sudo, "ip", "netns", "delete", namespace], check=False,
                       capture_output=True, timeout=30)  # fmt: skip


def run_python_in_network_of(service: str, code: str, timeout: float = 60) -> str:
    """Run Python CODE in a throwaway container of the app image that shares SERVICE's network
    namespace: it sees what the service sees (its networks, names and routes), whatever tools
    the service's own image lacks. Returns what the code prints."""
    image = inspect("app")["Config"]["Image"]
    result = docker(
        "run", "--rm", "--network", f"container:{container_id(service)}", "--read-only",
        "--cap-drop", "ALL", "--user", "65534:65534", "--entrypoint", "python", image,
        "-c", code, timeout=timeout,
    )  # fmt: skip
    return result.stdout.strip()
