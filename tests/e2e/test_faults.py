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


HEALTH_CACHE_SECONDS = 1  # /health's checks run at most once a second per process


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


def timed_health(http) -> tuple[float, int, dict]:
    begun = time.monotonic()
    status, body = health(http)
    return time.monotonic() - begun, status, body


def test_health_answers_within_its_check_timeouts_when_dependencies_hang(http, paused):
    # A frozen Postgres takes connections and never answers: the 2 s connect timeout ends the
    # check. A frozen Redis: the 1 s socket timeout. /health never hangs past them.
    paused("redis")
    time.sleep(HEALTH_CACHE_SECONDS)  # the next /health runs its checks again
    seconds, status, body = timed_health(http)
    assert (status, body["status"], body["cache"]) == (200, "degraded", "disconnected")
    assert 0.9 <= seconds <= 2.5, f"/health took {seconds:.1f} s with Redis frozen"
    paused("postgres")
    time.sleep(HEALTH_CACHE_SECONDS)
    seconds, status, body = timed_health(http)
    assert (status, body["status"], body["database"]) == (503, "unhealthy", "disconnected")
    assert 2.9 <= seconds <= 4.5, f"/health took {seconds:.1f} s with both frozen"


def test_data_survives_an_app_restart(http):
    name = f"durable {uuid.uuid4().hex[:6]}"
    created = http.post(f"{BASE}/api/items", json={"name": name}, timeout=10)
    assert created.status_code == 201
    compose("restart", "app")
    wait_healthy("app")
    wait_for(lambda: http.get(f"{BASE}/healthz", timeout=5).status_code == 200, 30)
    assert http.get(created.headers["Location"], timeout=10).json()["name"] == name
