"""Caching: reads after writes are never stale, and a failing cache never fails a request."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import cache
from app.telemetry import MetricsState
from tests.unit.conftest import ItemFactory, build_app

pytestmark = pytest.mark.unit


class BrokenBackend:
    """A cache backend whose every operation fails like an unreachable Redis."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> Any:
            raise ConnectionError("Redis is down")

        return fail


def cache_count(app: Flask, result: str) -> float:
    state: MetricsState = app.extensions["app_metrics"]
    value = state.registry.get_sample_value("app_cache_requests_total", {"result": result})
    return value or 0.0


def swap_backend(app: Flask, backend: Any) -> Any:
    previous = app.extensions["cache"][cache]
    app.extensions["cache"][cache] = backend
    return previous


def test_second_read_of_an_item_is_a_cache_hit(
    app: Flask, client: FlaskClient, make_item: ItemFactory
) -> None:
    item = make_item()
    client.get(f"/api/items/{item['id']}")
    hits = cache_count(app, "hit")
    assert client.get(f"/api/items/{item['id']}").get_json() == item
    assert cache_count(app, "hit") == hits + 1


def test_read_after_patch_is_never_stale(client: FlaskClient, make_item: ItemFactory) -> None:
    item = make_item("old name")
    assert client.get(f"/api/items/{item['id']}").get_json()["name"] == "old name"
    client.patch(f"/api/items/{item['id']}", json={"name": "new name"})
    assert client.get(f"/api/items/{item['id']}").get_json()["name"] == "new name"
    listed = client.get("/api/items").get_json()["items"]
    assert listed[0]["name"] == "new name"


def test_read_after_delete_is_404(client: FlaskClient, make_item: ItemFactory) -> None:
    item = make_item()
    assert client.get(f"/api/items/{item['id']}").status_code == 200
    client.delete(f"/api/items/{item['id']}")
    assert client.get(f"/api/items/{item['id']}").status_code == 404


def test_stats_are_cached_until_a_write(client: FlaskClient, make_item: ItemFactory) -> None:
    first = client.get("/api/stats").get_json()
    time.sleep(0.002)
    assert client.get("/api/stats").get_json() == first  # served from the cache
    item = make_item()
    assert client.get("/api/stats").get_json()["total_items"] == 1
    client.delete(f"/api/items/{item['id']}")
    assert client.get("/api/stats").get_json()["total_items"] == 0


def test_stats_expire_after_their_timeout() -> None:
    app = build_app(STATS_CACHE_TIMEOUT=1)
    client = app.test_client()
    first = client.get("/api/stats").get_json()
    time.sleep(1.1)
    assert client.get("/api/stats").get_json()["generated_at"] != first["generated_at"]


def test_broken_cache_is_skipped_counted_and_logged_once_per_request(
    app: Flask,
    client: FlaskClient,
    make_item: ItemFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    item = make_item()
    swap_backend(app, BrokenBackend())
    errors = cache_count(app, "error")
    caplog.clear()
    response = client.get(f"/api/items/{item['id']}")
    assert response.status_code == 200
    assert response.get_json() == item
    warnings = [r for r in caplog.records if r.name == "app.caching"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert cache_count(app, "error") == errors + 1
    assert client.get("/api/stats").status_code == 200
    assert client.patch(f"/api/items/{item['id']}", json={"name": "x"}).status_code == 200


def test_cache_resumes_and_forgets_writes_it_missed(
    app: Flask, client: FlaskClient, make_item: ItemFactory
) -> None:
    item = make_item("before outage")
    client.get(f"/api/items/{item['id']}")  # now cached
    working = swap_backend(app, BrokenBackend())
    client.patch(f"/api/items/{item['id']}", json={"name": "during outage"})
    swap_backend(app, working)  # Redis is back, still holding the old entry
    assert client.get(f"/api/items/{item['id']}").get_json()["name"] == "during outage"
    hits = cache_count(app, "hit")
    client.get(f"/api/items/{item['id']}")
    assert cache_count(app, "hit") == hits + 1


def test_unreachable_redis_costs_little_and_the_api_still_works() -> None:
    # Port 1 on loopback refuses at once; the real redis client and its options are used.
    app = build_app(
        CACHE_TYPE="RedisCache",
        CACHE_REDIS_URL="redis://127.0.0.1:1/0",
        CACHE_OPTIONS={"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
    )
    client = app.test_client()
    started = time.monotonic()
    created = client.post("/api/items", json={"name": "no cache"})
    assert created.status_code == 201
    item_id = created.get_json()["id"]
    assert client.get(f"/api/items/{item_id}").status_code == 200
    assert client.get("/api/stats").status_code == 200
    health = client.get("/health")
    assert health.status_code == 200
    assert health.get_json()["status"] == "degraded"
    assert time.monotonic() - started < 4
