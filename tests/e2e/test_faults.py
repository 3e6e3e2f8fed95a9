"""Faults: a dependency stops and comes back; the app degrades, answers clearly and recovers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.edge import BASE
from tests.support.stack import (
    cache_entry,
    compose,
    drop_cache_entry,
    inspect,
    json_log_lines,
    stopped,
    wait_for,
    wait_healthy,
)


def started_at(service: str) -> str:
    return inspect(service)["State"]["StartedAt"]


def health(http) -> tuple[int, dict]:
    response = http.get(f"{BASE}/health", timeout=10)
    return response.status_code, response.json()


@pytest.fixture
def redis_stopped() -> Iterator[None]:
    with stopped("redis"):
        yield


@pytest.fixture
def postgres_stopped() -> Iterator[None]:
    with stopped("postgres"):
        yield


HEALTH_CACHE_SECONDS = 1  # /health's checks run at most once a second per process


def test_redis_down_degrades_health_but_reads_and_writes_still_work(http, redis_stopped):
    app_started = started_at("app")
    time.sleep(HEALTH_CACHE_SECONDS)  # a result checked before the stop has expired
    status, body = health(http)
    assert status == 200
    assert body["status"] == "degraded"
    assert body["cache"] == "disconnected" and body["database"] == "connected"

    request_id = f"redis-down-{uuid.uuid4().hex}"
    created = http.post(f"{BASE}/api/items", json={"name": "written without cache"},
                        headers={"X-Request-ID": request_id}, timeout=10)  # fmt: skip
    assert created.status_code == 201
    item_url = f"{BASE}/api/items/{created.json()['id']}"
    for _ in range(2):
        read = http.get(item_url, timeout=10)
        assert read.status_code == 200 and read.json()["name"] == "written without cache"
    patched = http.patch(item_url, json={"name": "patched without cache"}, timeout=10)
    assert patched.status_code == 200
    assert http.get(item_url, timeout=10).json()["name"] == "patched without cache"
    assert http.get(f"{BASE}/api/stats", timeout=10).status_code == 200
    assert http.get(f"{BASE}/api/items", timeout=10).status_code == 200
    assert started_at("app") == app_started
    # The degradation is not silent: the app logs a warning, in JSON, for the operator, on the
    # line of the very request that met the outage.
    warnings = [
        line
        for line in json_log_lines("app", "2m")
        if line.get("request_id") == request_id and line.get("level") == "WARNING"
    ]
    assert [line["message"] for line in warnings] == ["cache unavailable, continuing without it"]


def test_redis_back_means_healthy_again_without_a_restart(http):
    app_started = started_at("app")
    with stopped("redis"):
        wait_for(lambda: health(http)[1]["cache"] == "disconnected", 20, what="degraded")
    wait_for(lambda: health(http)[1]["status"] == "healthy", 30, what="healthy again")
    # Caching resumes by itself: a read puts the item back into Redis.
    item = http.post(f"{BASE}/api/items", json={"name": "after redis"}, timeout=10).json()
    http.get(f"{BASE}/api/items/{item['id']}", timeout=10)
    assert cache_entry(f"item:{item['id']}"), "caching did not resume"
    assert started_at("app") == app_started


def test_postgres_down_gives_503_json_and_unhealthy(http, postgres_stopped):
    time.sleep(HEALTH_CACHE_SECONDS)
    status, body = health(http)
    assert status == 503
    assert body["status"] == "unhealthy" and body["database"] == "disconnected"
    # Statistics cached before the outage would answer 200 from Redis: drop them first.
    drop_cache_entry("stats")
    for method, path, payload in [
        ("GET", "/api/items", None),
        ("POST", "/api/items", {"name": "nowhere to go"}),
        ("GET", "/api/stats", None),
        ("GET", "/api/items/999999", None),
    ]:
        response = http.request(method, f"{BASE}{path}", json=payload, timeout=15)
        assert response.status_code == 503, f"{method} {path}: {response.status_code}"
        assert response.json()["error"]["code"] == "database_unavailable"
        assert "Traceback" not in response.text


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


def test_postgres_back_means_the_app_recovers_without_a_restart(http):
    app_started = started_at("app")
    with stopped("postgres"):
        wait_for(lambda: health(http)[0] == 503, 20, what="unhealthy")
    wait_for(lambda: health(http)[0] == 200, 30, what="recovery")
    name = f"after postgres {uuid.uuid4().hex[:6]}"
    created = http.post(f"{BASE}/api/items", json={"name": name}, timeout=10)
    assert created.status_code == 201
    assert http.get(created.headers["Location"], timeout=10).json()["name"] == name
    assert started_at("app") == app_started


def test_data_survives_an_app_restart(http):
    name = f"durable {uuid.uuid4().hex[:6]}"
    created = http.post(f"{BASE}/api/items", json={"name": name}, timeout=10)
    assert created.status_code == 201
    compose("restart", "app")
    wait_healthy("app")
    wait_for(lambda: http.get(f"{BASE}/healthz", timeout=5).status_code == 200, 30)
    assert http.get(created.headers["Location"], timeout=10).json()["name"] == name
