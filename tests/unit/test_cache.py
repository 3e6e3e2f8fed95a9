"""Caching: reads after writes are never stale, races included; entries are JSON, never
pickle; a failing cache never fails a request, and invalidations it missed are repaired."""

from __future__ import annotations

import logging
import pickle
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import caching
from app.caching import MemoryStore, cache_invalidate, cache_read, cache_store, invalidations
from app.extensions import db
from app.telemetry import MetricsState
from tests.unit.conftest import ItemFactory, build_app

pytestmark = pytest.mark.unit


class BrokenStore:
    """A store whose every operation fails like an unreachable Redis."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> Any:
            raise ConnectionError("Redis is down")

        return fail


def cache_count(app: Flask, result: str) -> float:
    state: MetricsState = app.extensions["app_metrics"]
    value = state.registry.get_sample_value("app_cache_requests_total", {"result": result})
    return value or 0.0


def swap_store(app: Flask, store: Any) -> Any:
    previous = app.extensions[caching.STORE_KEY]
    app.extensions[caching.STORE_KEY] = store
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


def test_a_read_that_raced_a_write_never_stores_the_old_row(app: Flask) -> None:
    with app.test_request_context():
        read = cache_read("item:1")  # a reader misses, then reads the row from the database
    with app.test_request_context():
        cache_invalidate("item:1")  # meanwhile a write commits and invalidates
    with app.test_request_context():
        cache_store("item:1", read, {"name": "old"})  # the reader stores what it read before
    with app.test_request_context():
        again = cache_read("item:1")
        assert again.value is None, "a read that raced a write put the old row back"
        cache_store("item:1", again, {"name": "new"})  # a read after the write may store
    with app.test_request_context():
        assert cache_read("item:1").value == {"name": "new"}


def test_an_entry_stored_under_an_old_token_never_counts(app: Flask) -> None:
    store: MemoryStore = app.extensions[caching.STORE_KEY]
    with app.test_request_context():
        cache_store("item:2", cache_read("item:2"), {"name": "cached"})
        payload, _ = store.read("item:2")
        cache_invalidate("item:2")
        # Put the entry back as it was, under the token it had: it no longer matches.
        store._data["item:2"] = (payload, time.monotonic() + 60)
        assert cache_read("item:2").value is None


def test_an_entry_that_is_not_json_is_a_logged_miss_and_never_unpickled(
    app: Flask, client: FlaskClient, make_item: ItemFactory, caplog: pytest.LogCaptureFixture
) -> None:
    item = make_item("from the database")
    store: MemoryStore = app.extensions[caching.STORE_KEY]

    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (pytest.fail, ("a cache entry was unpickled",))

    store._data[f"item:{item['id']}"] = (pickle.dumps(Exploit()), time.monotonic() + 60)
    caplog.set_level(logging.WARNING, logger="app.caching")
    response = client.get(f"/api/items/{item['id']}")
    assert response.get_json()["name"] == "from the database"
    assert any("not JSON" in record.getMessage() for record in caplog.records)


def test_flask_cachings_own_redis_backend_is_json_too() -> None:
    serializer = caching.JsonRedisCache.serializer
    assert serializer.loads(serializer.dumps({"a": [1, "b"]})) == {"a": [1, "b"]}
    assert serializer.loads(pickle.dumps({"a": 1})) is None
    assert serializer.loads(None) is None


def test_broken_cache_is_skipped_counted_and_logged_once_per_request(
    app: Flask,
    client: FlaskClient,
    make_item: ItemFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    item = make_item()
    swap_store(app, BrokenStore())
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


def test_an_invalidation_lost_in_an_outage_is_recorded_and_repaired(
    app: Flask, client: FlaskClient, make_item: ItemFactory
) -> None:
    item = make_item("before outage")
    url = f"/api/items/{item['id']}"
    client.get(url)  # now cached
    working = swap_store(app, BrokenStore())
    client.patch(url, json={"name": "during outage"})
    with app.app_context():
        recorded = set(db.session.scalars(db.select(invalidations.c.cache_key)))
    assert recorded == {f"item:{item['id']}", "stats"}
    swap_store(app, working)  # Redis is back, still holding the old entry
    assert client.get(url).get_json()["name"] == "during outage"
    with app.app_context():
        assert list(db.session.scalars(db.select(invalidations.c.cache_key))) == []
    hits = cache_count(app, "hit")
    client.get(url)
    assert cache_count(app, "hit") == hits + 1


def test_repairs_wait_for_their_interval_unless_this_process_lost_something() -> None:
    app = build_app(CACHE_REPAIR_SECONDS=60)
    client = app.test_client()
    item = app.test_client().post("/api/items", json={"name": "n"}).get_json()
    client.get(f"/api/items/{item['id']}")
    state: caching.RepairState = app.extensions[caching.REPAIR_KEY]
    checked = state.checked_at
    client.get(f"/api/items/{item['id']}")
    assert state.checked_at == checked, "a repair ran before its interval"
    working = swap_store(app, BrokenStore())
    client.patch(f"/api/items/{item['id']}", json={"name": "lost"})
    assert state.lost_here
    swap_store(app, working)
    assert client.get(f"/api/items/{item['id']}").get_json()["name"] == "lost"
    assert not state.lost_here


def test_unreachable_redis_costs_little_and_the_api_still_works() -> None:
    # Port 1 on loopback refuses at once; the real redis client and its options are used.
    app = build_app(
        CACHE_TYPE="app.caching.JsonRedisCache",
        CACHE_REDIS_URL="redis://127.0.0.1:1/0",
        CACHE_OPTIONS={"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
    )
    assert isinstance(app.extensions[caching.STORE_KEY], caching.RedisStore)
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
