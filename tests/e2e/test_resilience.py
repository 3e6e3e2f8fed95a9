"""Processes die, requests hang, clients misbehave: the stack keeps serving and loses nothing."""

from __future__ import annotations

import concurrent.futures
import json
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.support.edge import BASE, CA_FILE, new_session
from tests.support.settings import (
    COMPOSE_SH,
    HTTPS_PORT,
    POSTGRES_DB,
    POSTGRES_USER,
    ROOT,
    compose_config,
)
from tests.support.stack import (
    compose,
    gunicorn_processes,
    inspect,
    json_log_lines,
    psql,
    wait_for,
    wait_healthy,
)


def utc_seconds(timestamp: str) -> float:
    """Seconds since the epoch of a log line's `timestamp` (app/logs.py: ISO 8601, UTC, Z)."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def all_ok(count: int = 60, path: str = "/api/items?limit=1") -> list[int]:
    session = new_session()
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(lambda _: session.get(f"{BASE}{path}", timeout=10).status_code,
                             range(count)))  # fmt: skip


def kill_inside(service: str, pid: int, sig: int = signal.SIGKILL) -> None:
    """Send SIG to PID from a process exec'd in SERVICE's container. When PID is the process
    the container lives by, the container stops and takes the exec'd process with it, which
    may then end by SIGKILL (exit 137) before it can report its own success."""
    done = compose("exec", "-T", service, "python", "-c",
                   f"import os; os.kill({pid}, {int(sig)})", check=False)  # fmt: skip
    assert done.returncode in (0, 128 + signal.SIGKILL), done.stderr


@pytest.mark.exclusive
def test_a_worker_killed_with_sigkill_is_replaced_and_nothing_fails_afterwards():
    master, workers = gunicorn_processes()
    victim = workers[0]
    kill_inside("app", victim)
    wait_for(
        lambda: (lambda m, w: m == master and victim not in w and len(w) == len(workers))(
            *gunicorn_processes()
        ),
        30,
        0.5,
        "a replacement worker",
    )
    assert set(all_ok()) == {200}


@pytest.mark.exclusive
def test_the_app_container_is_restarted_by_its_policy_when_its_main_process_dies(http):
    before = inspect("app")
    master, _ = gunicorn_processes()
    kill_inside("app", master)  # as a crash or the OOM killer would
    wait_for(lambda: inspect("app")["RestartCount"] > before["RestartCount"], 30, 0.5,
             "a restart by the policy")  # fmt: skip
    wait_healthy("app")
    assert inspect("app")["Id"] == before["Id"]
    wait_for(lambda: http.get(f"{BASE}/health", timeout=5).status_code == 200, 30)


class HeldLock:
    """Hold an exclusive lock on the items table for `seconds`, from psql in Postgres."""

    def __init__(self, seconds: float) -> None:
        sql = (
            f"BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({seconds}); COMMIT;"
        )
        self.process = subprocess.Popen(
            [str(COMPOSE_SH), "exec", "-T", "postgres",
             "psql", "-U", POSTGRES_USER, "-d", POSTGRES_DB, "-q", "-c", sql],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(
            lambda: (
                psql(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE c.relname = 'items' AND l.mode = 'AccessExclusiveLock' AND l.granted"
                )
                == "1"
            ),
            15,
            0.2,
            "the lock",
        )

    def wait(self) -> None:
        self.process.wait(timeout=120)


def wait_until_a_request_waits_for_the_lock() -> None:
    """Until a session other than the lock's holder waits on the items table."""
    waiting = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'items' AND NOT l.granted"
    )
    wait_for(lambda: psql(waiting) != "0", 15, 0.1, "a request waiting for the lock")


def gunicorn_settings() -> dict[str, Any]:
    """gunicorn.conf.py as the running app container evaluates it (its environment applied)."""
    code = ("import json, runpy; c = runpy.run_path('/app/gunicorn.conf.py'); "
            "print(json.dumps({k: c[k] for k in ('timeout', 'graceful_timeout')}))")  # fmt: skip
    settings: dict[str, Any] = json.loads(compose("exec", "-T", "app", "python", "-c", code).stdout)
    return settings


def nginx_seconds(directive: str) -> float:
    """A timeout of the running nginx's configuration, in seconds (`25s` -> 25.0)."""
    running = compose("exec", "-T", "nginx", "nginx", "-T", "-c", "/tmp/nginx/nginx.conf").stdout
    value = re.search(rf"^\s*{directive} (\d+)s;", running, re.M)
    assert value, f"nginx runs no {directive}"
    return float(value[1])


def stop_grace_period() -> float:
    """The app's stop_grace_period in seconds (compose.yaml writes it as `30s`)."""
    return float(str(compose_config()["services"]["app"]["stop_grace_period"]).removesuffix("s"))


@pytest.mark.exclusive
def test_sigterm_lets_an_in_flight_request_finish(http):
    name = f"in flight {uuid.uuid4().hex[:8]}"
    graceful = gunicorn_settings()["graceful_timeout"]
    # Nearly GUNICORN_GRACEFUL_TIMEOUT, the time the request has after SIGTERM, and within
    # nginx's PROXY_READ_TIMEOUT, so that the answer reaches the client.
    held = min(graceful, nginx_seconds("proxy_read_timeout")) - 2
    lock = HeldLock(held)
    result: dict = {}

    def post() -> None:
        response = new_session().post(f"{BASE}/api/items", json={"name": name}, timeout=60)
        result["status"] = response.status_code

    request = threading.Thread(target=post)
    request.start()
    wait_until_a_request_waits_for_the_lock()
    try:
        begun = time.monotonic()
        stop = compose("stop", "app", timeout=120)  # SIGTERM, then gunicorn's graceful timeout
        stopped_after = time.monotonic() - begun
        assert stop.returncode == 0
        # gunicorn waited for the request (until the lock ended), and Compose did not kill it:
        # the app's stop_grace_period is above gunicorn's graceful timeout.
        grace = stop_grace_period()
        assert grace > graceful
        assert held - 3 <= stopped_after < grace, f"the stop took {stopped_after:.1f} s"
        request.join(timeout=60)
        lock.wait()
        assert result.get("status") == 201, f"the in-flight request got {result}"
        assert psql(f"SELECT count(*) FROM items WHERE name = '{name}'") == "1"
        assert inspect("app")["State"]["ExitCode"] == 0, "gunicorn did not shut down cleanly"
    finally:
        compose("start", "app")
        wait_healthy("app")


@pytest.mark.exclusive
def test_a_request_slower_than_the_worker_timeout_gets_504_and_its_worker_is_recycled(http):
    master, workers_before = gunicorn_processes()
    proxy_read = nginx_seconds("proxy_read_timeout")
    timeout = gunicorn_settings()["timeout"]
    assert proxy_read < timeout, "nginx must give up on the app before gunicorn's watchdog"
    # Longer than nginx's PROXY_READ_TIMEOUT and gunicorn's GUNICORN_TIMEOUT.
    lock = HeldLock(timeout + 4)
    result: dict = {}

    def slow() -> None:
        begun = time.monotonic()
        result["sent_at"] = time.time()
        response = new_session().post(f"{BASE}/api/items", json={"name": "slow"}, timeout=60)
        result["seconds"] = time.monotonic() - begun
        result["status"] = response.status_code
        result["json"] = response.json()

    request = threading.Thread(target=slow)
    request.start()
    wait_until_a_request_waits_for_the_lock()
    # Requests that do not need the locked table keep being answered meanwhile.
    assert set(all_ok(20, "/healthz")) == {200}
    request.join(timeout=60)
    assert result.get("status") == 504
    assert result["json"]["error"]["code"] == "gateway_timeout"
    # The 504 at nginx's PROXY_READ_TIMEOUT, not sooner and not much later.
    seconds = result["seconds"]
    assert proxy_read - 0.5 <= seconds <= proxy_read + 3, f"the 504 came after {seconds:.1f} s"
    lock.wait()

    def recycled() -> bool:
        now_master, now_workers = gunicorn_processes()
        return (
            now_master == master
            and len(now_workers) == len(workers_before)
            and bool(set(workers_before) - set(now_workers))
        )

    wait_for(recycled, 60, 1, "the slow request's worker to be replaced")
    # "At GUNICORN_TIMEOUT the watchdog stops the worker": its line, timed from the request
    # (the watchdog looks once a second, and acts once a request is older than the timeout).
    watchdog = [
        line for line in json_log_lines("app", "3m")
        if line.get("message", "").startswith(f"a request has run for more than {timeout} s")
        and utc_seconds(line["timestamp"]) > result["sent_at"]
    ]  # fmt: skip
    assert watchdog, "no watchdog line for the slow request"
    after = utc_seconds(watchdog[0]["timestamp"]) - result["sent_at"]
    assert timeout <= after <= timeout + 2.5, f"the watchdog acted {after:.1f} s after the request"
    wait_for(lambda: http.get(f"{BASE}/health", timeout=5).status_code == 200, 30)
    assert set(all_ok(20)) == {200}


@pytest.mark.exclusive
def test_nginx_restarted_is_back_within_seconds_with_nothing_lost(http):
    created = http.post(f"{BASE}/api/items", json={"name": "before nginx restart"}, timeout=10)
    assert created.status_code == 201
    compose("restart", "nginx")
    begun = time.monotonic()
    wait_for(lambda: new_session().get(f"{BASE}/healthz", timeout=2).status_code == 200, 20,
             0.2, "nginx back")  # fmt: skip
    assert time.monotonic() - begun < 20
    again = new_session().get(created.headers["Location"], timeout=10)
    assert again.status_code == 200 and again.json()["name"] == "before nginx restart"
    wait_healthy("nginx")


@pytest.fixture
def slow_client() -> Iterator[tuple[ssl.SSLSocket, float]]:
    """A client that sends half a request and then nothing (slowloris); and when it sent it."""
    context = ssl.create_default_context(cafile=CA_FILE)
    raw = socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=40)
    sock = context.wrap_socket(raw, server_hostname="localhost")
    sock.sendall(b"GET /api/items HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    yield sock, time.monotonic()
    sock.close()


def test_a_slow_client_is_cut_off_after_15_s_and_never_holds_up_others(slow_client):
    sock, sent_at = slow_client
    assert set(all_ok(20, "/healthz")) == {200}
    try:
        data = sock.recv(1024)
    except (ConnectionResetError, ssl.SSLError, TimeoutError):
        data = b""
    waited = time.monotonic() - sent_at
    assert b"200 OK" not in data
    # nginx's client_header_timeout is 15 s: cut then, not sooner and not much later.
    assert 14.5 <= waited <= 20, f"nginx cut the half-sent request after {waited:.1f} s"
    assert set(all_ok(20, "/health")) == {200}
