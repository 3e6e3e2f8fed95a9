"""Faults: a dependency stops and comes back; the app degrades, answers clearly and recovers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.edge import BASE
from tests.support.stack import (
    compose,
    inspect,
    json_log_lines,
    redis_cli,
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


def test_redis_down_degrades_health_but_reads_and_writes_still_work(http, redis_stopped):
    app_started = started_at("app")
    begun = time.monotonic()
    status, body = health(http)
    assert time.monotonic() - begun < 5, "/health hung on a dead Redis"
    assert status == 200
    assert body["status"] == "degraded"
    assert body["cache"] == "disconnected" and body["database"] == "connected"

    created = http.post(f"{BASE}/api/items", json={"name": "written without cache"}, timeout=10)
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
    # The degradation is not silent: the app logs a warning, in JSON, for the operator.
    warnings = [
        line
        for line in json_log_lines("app", "2m")
        if line.get("level") == "WARNING" and "cache unavailable" in line.get("message", "")
    ]
    assert warnings, "no warning was logged while Redis was down"


def test_redis_back_means_healthy_again_without_a_restart(http):
    app_started = started_at("app")
    with stopped("redis"):
        wait_for(lambda: health(http)[1]["cache"] == "disconnected", 20, what="degraded")
    wait_for(lambda: health(http)[1]["status"] == "healthy", 30, what="healthy again")
    # Caching resumes by itself: a read puts the item back into Redis.
    item = http.post(f"{BASE}/api/items", json={"name": "after redis"}, timeout=10).json()
    http.get(f"{BASE}/api/items/{item['id']}", timeout=10)
    assert redis_cli("--scan", "--pattern", f"*item:{item['id']}")
    assert started_at("app") == app_started


def test_postgres_down_gives_503_json_and_unhealthy(http, postgres_stopped):
    begun = time.monotonic()
    status, body = health(http)
    assert time.monotonic() - begun < 6, "/health hung on a dead Postgres"
    assert status == 503
    assert body["status"] == "unhealthy" and body["database"] == "disconnected"
    for method, path, payload in [
        ("GET", "/api/items", None),
        ("POST", "/api/items", {"name": "nowhere to go"}),
        ("GET", "/api/stats", None),
    ]:
        response = http.request(method, f"{BASE}{path}", json=payload, timeout=15)
        # /api/stats may still come from the cache; everything else needs the database.
        if path == "/api/stats" and response.status_code == 200:
            continue
        assert response.status_code == 503, f"{method} {path}: {response.status_code}"
        assert response.json()["error"]["code"] == "database_unavailable"
        assert "Traceback" not in response.text


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
