"""Caching: reads after writes are never stale, races included; entries are compact JSON with
their token, never pickle, and live exactly their timeout; look-ups are counted; a failing cache
never fails a request and each failure is logged once with its operation; invalidations it
missed are recorded and repaired, in batches, at their interval."""

from __future__ import annotations

import logging
import pickle
import time
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import caching
from app.caching import (
    INVALIDATE,
    NO_TOKEN,
    REPAIR_BATCH,
    STORE_IF_CURRENT,
    JsonSerializer,
    MemoryStore,
    RedisStore,
    cache_invalidate,
    cache_read,
    cache_store,
    decode,
    invalidations,
)
from app.extensions import db
from app.items.models import Item
from app.telemetry import MetricsState
from tests.unit.conftest import ItemFactory, build_app

pytestmark = pytest.mark.unit


class BrokenStore:
    """A store whose every operation fails like an unreachable Redis."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> Any:
            raise ConnectionError("Redis is down")

        return fail


class PartlyBroken:
    """The real store, except that the operations named fail like an unreachable Redis."""

    def __init__(self, working: Any, *failing: str) -> None:
        self.working = working
        self.failing = set(failing)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any) -> Any:
            self.calls.append((name, args))
            if name in self.failing:
                raise ConnectionError("Redis is down")
            return getattr(self.working, name)(*args)

        return call


def cache_count(app: Flask, result: str) -> float:
    state: MetricsState = app.extensions["app_metrics"]
    value = state.registry.get_sample_value("app_cache_requests_total", {"result": result})
    return value or 0.0


def swap_store(app: Flask, store: Any) -> Any:
    previous = app.extensions[caching.STORE_KEY]
    app.extensions[caching.STORE_KEY] = store
    return previous


def store_of(app: Flask) -> Any:
    return app.extensions[caching.STORE_KEY]


def cache_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "app.caching" and r.levelno >= logging.WARNING]


def recorded(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(invalidations.c.cache_key)))


def record_elsewhere(app: Flask, *keys: str) -> None:
    """What another process does when Redis refuses its invalidation."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(invalidations.insert(), [{"cache_key": key} for key in keys])


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(1000.0)
    monkeypatch.setattr(caching, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


# --- Reads, stores, entries -------------------------------------------------------------------


def test_a_first_read_is_a_miss_and_the_second_a_cache_hit(
    app: Flask, client: FlaskClient, make_item: ItemFactory, caplog: pytest.LogCaptureFixture
) -> None:
    item = make_item()
    hits, misses = cache_count(app, "hit"), cache_count(app, "miss")
    caplog.clear()
    client.get(f"/api/items/{item['id']}")
    assert (cache_count(app, "hit"), cache_count(app, "miss")) == (hits, misses + 1)
    assert client.get(f"/api/items/{item['id']}").get_json() == item
    assert (cache_count(app, "hit"), cache_count(app, "miss")) == (hits + 1, misses + 1)
    assert cache_warnings(caplog) == []


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


@pytest.mark.usefixtures("database")
def test_stats_expire_after_their_timeout() -> None:
    app = build_app(STATS_CACHE_TIMEOUT=1)
    client = app.test_client()
    first = client.get("/api/stats").get_json()
    time.sleep(1.1)
    assert client.get("/api/stats").get_json()["generated_at"] != first["generated_at"]


def test_an_entry_lives_exactly_its_timeout(app: Flask, clock: Clock) -> None:
    with app.test_request_context():
        cache_store("stats", cache_read("stats"), {"n": 1}, timeout=7)
    clock.now += 7
    with app.test_request_context():
        assert cache_read("stats").value == {"n": 1}
    clock.now += 0.001
    with app.test_request_context():
        assert cache_read("stats").value is None


def test_a_hit_carries_its_token_so_the_entry_can_be_replaced(app: Flask) -> None:
    with app.test_request_context():
        cache_store("stats", cache_read("stats"), {"n": 1})
        hit = cache_read("stats")
        assert hit.value == {"n": 1}
        assert hit.token == NO_TOKEN
        cache_store("stats", hit, {"n": 2})
        assert cache_read("stats").value == {"n": 2}


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


class RecordingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.ttls: list[int] = []

    def invalidate(self, keys: list[str], ttl: int) -> None:
        self.ttls.append(ttl)
        super().invalidate(keys, ttl)


def test_tokens_outlive_any_entry_twice_over(app: Flask) -> None:
    store = RecordingStore()
    swap_store(app, store)
    with app.test_request_context():
        cache_invalidate("item:1")  # delivered
    record_elsewhere(app, "item:2")
    with app.test_request_context():
        cache_read("item:3")  # applies the recorded one
    assert store.ttls == [2 * app.config["CACHE_DEFAULT_TIMEOUT"]] * 2


def test_entries_are_compact_json_with_their_token(app: Flask) -> None:
    with app.test_request_context():
        cache_store("item:7", cache_read("item:7"), {"name": "x", "tags": [1, 2]})
    payload, token = store_of(app).read("item:7")
    assert payload == b'{"t":"0","v":{"name":"x","tags":[1,2]}}'
    assert token == NO_TOKEN
    assert JsonSerializer().dumps({"a": [1, "b"]}) == b'{"a":[1,"b"]}'


def test_an_entry_that_is_not_json_is_a_miss_logged_with_its_size_and_never_unpickled(
    app: Flask, client: FlaskClient, make_item: ItemFactory, caplog: pytest.LogCaptureFixture
) -> None:
    item = make_item("from the database")
    store: MemoryStore = app.extensions[caching.STORE_KEY]

    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (pytest.fail, ("a cache entry was unpickled",))

    foreign = pickle.dumps(Exploit())
    store._data[f"item:{item['id']}"] = (foreign, time.monotonic() + 60)
    caplog.set_level(logging.WARNING, logger="app.caching")
    response = client.get(f"/api/items/{item['id']}")
    assert response.get_json()["name"] == "from the database"
    [warning] = cache_warnings(caplog)
    assert warning.getMessage() == "cache entry is not JSON: ignored"
    assert warning.bytes == len(foreign)  # type: ignore[attr-defined]
    caplog.clear()
    assert decode(b"\x80\x04junk") is None
    [warning] = cache_warnings(caplog)
    assert warning.bytes == 6  # type: ignore[attr-defined]


def test_flask_cachings_own_redis_backend_is_json_too() -> None:
    serializer = caching.JsonRedisCache.serializer
    assert serializer.loads(serializer.dumps({"a": [1, "b"]})) == {"a": [1, "b"]}
    assert serializer.loads(pickle.dumps({"a": 1})) is None
    assert serializer.loads(None) is None


# --- The stores -------------------------------------------------------------------------------


class FakeRedis:
    """Records what RedisStore sends; answers like a Redis holding one entry and its token."""

    def __init__(self) -> None:
        self.scripts: list[str] = []
        self.sent: list[tuple[str, Any, Any]] = []

    def register_script(self, source: str) -> Any:
        self.scripts.append(source)

        def run(keys: list[str], args: list[Any]) -> int:
            self.sent.append((source, keys, args))
            return 1

        return run

    def mget(self, keys: list[str]) -> list[bytes | None]:
        self.sent.append(("MGET", keys, None))
        return [b"payload", b"token-1"] if keys[0] == "p:item:1" else [None, None]

    def ping(self) -> str:
        return "PONG"


def test_the_redis_store_sends_entry_and_token_keys_under_the_prefix() -> None:
    client = FakeRedis()
    store = RedisStore(client, "p:")
    assert client.scripts == [STORE_IF_CURRENT, INVALIDATE]
    assert store.read("item:1") == (b"payload", "token-1")
    assert store.read("item:2") == (None, NO_TOKEN)
    store.store_if_current("item:1", "token-1", b"{}", 30)
    store.invalidate(["item:1", "stats"], 600)
    assert store.ping() is True
    mget, _, store_call, invalidate_call = client.sent
    assert mget == ("MGET", ["p:item:1", "p:gen:item:1"], None)
    assert store_call == (
        STORE_IF_CURRENT,
        ["p:item:1", "p:gen:item:1"],
        ["token-1", b"{}", 30, "0"],
    )
    source, keys, (token, ttl) = invalidate_call
    assert (source, keys, ttl) == (
        INVALIDATE,
        ["p:item:1", "p:gen:item:1", "p:stats", "p:gen:stats"],
        600,
    )
    assert len(token) == 32 and token != NO_TOKEN


def test_a_redis_backend_gets_the_redis_store_with_the_apps_prefix() -> None:
    app = build_app(
        CACHE_TYPE="app.caching.JsonRedisCache",
        CACHE_REDIS_URL="redis://127.0.0.1:1/0",
        CACHE_KEY_PREFIX="tenant:",
    )
    store = store_of(app)
    assert isinstance(store, RedisStore)
    assert store.prefix == "tenant:"
    assert store.client is app.extensions["cache"][caching.cache]._write_client
    assert isinstance(store_of(build_app()), MemoryStore)
    assert MemoryStore().ping() is True


# --- Failures ---------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("failing", "operation", "method", "body"),
    [
        ("read", "read", "get", None),
        ("store_if_current", "store", "get", None),
        ("invalidate", "invalidate", "patch", {"name": "renamed"}),
    ],
)
def test_a_cache_failure_is_logged_once_with_the_operation_and_the_error_type(
    app: Flask,
    client: FlaskClient,
    make_item: ItemFactory,
    caplog: pytest.LogCaptureFixture,
    failing: str,
    operation: str,
    method: str,
    body: dict[str, str] | None,
) -> None:
    item = make_item()
    swap_store(app, PartlyBroken(store_of(app), failing))
    caplog.clear()
    response = getattr(client, method)(f"/api/items/{item['id']}", json=body)
    assert response.status_code == 200
    [warning] = cache_warnings(caplog)
    assert warning.getMessage() == "cache unavailable, continuing without it"
    assert warning.operation == operation  # type: ignore[attr-defined]
    assert warning.error == "ConnectionError"  # type: ignore[attr-defined]


def test_after_a_failure_the_cache_is_not_tried_again_in_that_request(app: Flask) -> None:
    store = PartlyBroken(store_of(app), "read")
    swap_store(app, store)
    errors = cache_count(app, "error")
    with app.test_request_context():
        first, second = cache_read("item:1"), cache_read("item:2")
        cache_store("item:1", first, {"name": "x"})
    assert (first.value, first.token) == (second.value, second.token) == (None, None)
    assert [name for name, _ in store.calls] == ["read"]
    assert cache_count(app, "error") == errors + 2


@pytest.mark.usefixtures("database")
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


# --- Lost invalidations and their repair ------------------------------------------------------


def test_an_invalidation_lost_in_an_outage_is_recorded_and_repaired(
    app: Flask, client: FlaskClient, make_item: ItemFactory
) -> None:
    item = make_item("before outage")
    url = f"/api/items/{item['id']}"
    client.get(url)  # now cached
    working = swap_store(app, BrokenStore())
    client.patch(url, json={"name": "during outage"})
    with app.app_context():
        lost = set(db.session.scalars(db.select(invalidations.c.cache_key)))
    assert lost == {f"item:{item['id']}", "stats"}
    swap_store(app, working)  # Redis is back, still holding the old entry
    assert client.get(url).get_json()["name"] == "during outage"
    assert recorded(app) == []
    hits = cache_count(app, "hit")
    client.get(url)
    assert cache_count(app, "hit") == hits + 1


def test_a_lost_invalidation_is_recorded_once_per_key(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    swap_store(app, PartlyBroken(store_of(app), "invalidate"))
    with app.test_request_context():
        cache_invalidate("item:1", "stats")
        cache_invalidate("item:1")  # lost again before any repair: no second row, no error
    with app.app_context():
        lost = sorted(db.session.scalars(db.select(invalidations.c.cache_key)))
    assert lost == ["item:1", "stats"]
    assert app.extensions[caching.REPAIR_KEY].lost_here
    assert not [r for r in caplog.records if "could not be recorded" in r.getMessage()]


def test_an_invalidation_that_cannot_be_recorded_either_is_logged_as_an_error(
    app: Flask,
    client: FlaskClient,
    make_item: ItemFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item = make_item()
    swap_store(app, PartlyBroken(store_of(app), "invalidate"))

    def no_database() -> None:
        raise sa.exc.OperationalError("BEGIN", {}, Exception("the database is down too"))

    monkeypatch.setattr(caching, "db", SimpleNamespace(engine=SimpleNamespace(begin=no_database)))
    caplog.clear()
    assert client.patch(f"/api/items/{item['id']}", json={"name": "x"}).status_code == 200
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.getMessage() == "a cache invalidation was lost and could not be recorded"
    assert error.exc_info and error.exc_info[0] is sa.exc.OperationalError


def cached_item(client: FlaskClient, make_item: ItemFactory) -> tuple[dict, str]:
    """An item named "before" and its URL, read once so that it is cached."""
    item = make_item("before")
    url = f"/api/items/{item['id']}"
    client.get(url)
    return item, url


def test_invalidations_recorded_by_another_process_are_applied_and_logged(
    app: Flask, client: FlaskClient, make_item: ItemFactory, caplog: pytest.LogCaptureFixture
) -> None:
    item, url = cached_item(client, make_item)
    with app.app_context():
        # A write by another process, whose invalidation Redis refused.
        db.session.execute(sa.update(Item).values(name="after"))
        db.session.commit()
    record_elsewhere(app, f"item:{item['id']}")
    caplog.set_level(logging.INFO, logger="app.caching")
    assert client.get(url).get_json()["name"] == "after"
    assert recorded(app) == []
    [info] = [r for r in caplog.records if r.name == "app.caching" and r.levelno == logging.INFO]
    assert info.getMessage() == "lost cache invalidations applied"
    assert info.keys == 1  # type: ignore[attr-defined]


def test_a_failed_repair_is_logged_and_the_read_goes_to_the_database(
    app: Flask, client: FlaskClient, make_item: ItemFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _, url = cached_item(client, make_item)
    swap_store(app, PartlyBroken(store_of(app), "invalidate"))
    client.patch(url, json={"name": "after"})  # lost, recorded, and not yet repairable
    caplog.clear()
    errors = cache_count(app, "error")
    assert client.get(url).get_json()["name"] == "after"
    assert cache_count(app, "error") == errors + 1
    [warning] = cache_warnings(caplog)
    assert warning.operation == "repair"  # type: ignore[attr-defined]
    assert warning.error == "ConnectionError"  # type: ignore[attr-defined]


def test_repairs_go_in_batches_until_none_is_left(app: Flask, client: FlaskClient) -> None:
    record_elsewhere(app, *(f"item:{n}" for n in range(REPAIR_BATCH + 1)))
    state: caching.RepairState = app.extensions[caching.REPAIR_KEY]
    client.get("/api/stats")
    assert len(recorded(app)) == 1
    assert state.lost_here  # a full batch: look again at once
    client.get("/api/stats")
    assert recorded(app) == []
    assert not state.lost_here


@pytest.mark.usefixtures("database")
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


@pytest.mark.usefixtures("database")
def test_a_repair_waits_for_its_interval_to_the_tick(clock: Clock) -> None:
    app = build_app(CACHE_REPAIR_SECONDS=1.0)
    with app.test_request_context():
        cache_read("stats")  # the first look, at 1000.0
    record_elsewhere(app, "stats")
    clock.now += 0.5
    with app.test_request_context():
        assert cache_read("stats").token is not None  # not due: the cache is used as it is
    assert recorded(app) == ["stats"]
    clock.now += 0.5
    with app.test_request_context():
        cache_read("stats")
    assert recorded(app) == []


def test_while_another_thread_repairs_only_a_process_that_lost_something_waits(
    app: Flask,
) -> None:
    state: caching.RepairState = app.extensions[caching.REPAIR_KEY]
    store = PartlyBroken(store_of(app))
    swap_store(app, store)
    errors = cache_count(app, "error")
    with state.lock:  # another thread is repairing
        with app.test_request_context():
            assert cache_read("stats").token == NO_TOKEN
        assert cache_count(app, "error") == errors
        state.lost_here = True
        with app.test_request_context():
            read = cache_read("stats")
            assert read.token is None
            cache_store("stats", read, {"n": 1})  # nothing to store under
        assert cache_count(app, "error") == errors + 1
    assert [name for name, _ in store.calls] == ["read"]
