"""Faults: a dependency hangs, the app restarts; the app answers within its timeouts and keeps
its data. A dependency stopped outright is in test_outages.py."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.edge import BASE
from tests.support.stack import (
    compose,
    wait_for,
    wait_healthy,
)

pytestmark = pytest.mark.exclusive


def health(http) -> tuple[int, dict]:
    response = http.get(f"{BASE}/health", timeout=10)
    return response.status_code, response.json()


@pytest.fixture
def paused() -> Iterator[Callable[[str], None]]:
    """Freeze a service's processes (they accept connections and answer nothing)."""
    frozen: list[str] = []

    def pause(service: str) -> None:
        compose("pause", service)
        frozen.append(service)

    try:
        yield pause
    finally:
        for service in frozen:
            compose("unpause", service)
        for service in frozen:
            wait_healthy(service)


def checked_health(http, part: str, at_least: float, at_most: float) -> tuple[int, dict]:
    """Poll /health until an answer reports `part` disconnected from a check this request ran.

    /health keeps a result for a second per process, and the app's healthcheck calls it too, so
    an answer may come from a check another caller ran: a fresh check is the one that took at
    least `at_least` seconds (the timeouts it waited on). Every answer comes within `at_most`.
    """
    deadline = time.monotonic() + 30
    while True:
        begun = time.monotonic()
        status, body = health(http)
        seconds = time.monotonic() - begun
        assert seconds <= at_most, f"/health took {seconds:.1f} s, over {at_most} s: {body}"
        if body[part] == "disconnected" and seconds >= at_least:
            return status, body
        assert time.monotonic() < deadline, f"no /health ran its {part} check in 30 s: {body}"


def test_health_answers_within_its_check_timeouts_when_dependencies_hang(http, paused):
    # A frozen Postgres takes connections and never answers: the 2 s connect timeout ends the
    # check. A frozen Redis: the 1 s socket timeout. /health never hangs past them.
    paused("redis")
    status, body = checked_health(http, "cache", at_least=0.9, at_most=2.5)
    assert (status, body["status"], body["database"]) == (200, "degraded", "connected")
    paused("postgres")
    status, body = checked_health(http, "database", at_least=2.9, at_most=4.5)
    assert (status, body["status"], body["cache"]) == (503, "unhealthy", "disconnected")


def test_data_survives_an_app_restart(http):
    name = f"durable {uuid.uuid4().hex[:6]}"
    created = http.post(f"{BASE}/api/items", json={"name": name}, timeout=10)
    assert created.status_code == 201
    compose("restart", "app")
    wait_healthy("app")
    wait_for(lambda: http.get(f"{BASE}/healthz", timeout=5).status_code == 200, 30)
    assert http.get(created.headers["Location"], timeout=10).json()["name"] == name
