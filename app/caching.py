"""Cache access that never fails a request and never serves data older than the last
acknowledged write.

Values are JSON, never pickle: an entry that is not valid JSON (anything someone else wrote
into Redis) is a miss, logged, and never executed. Flask-Caching's own backend uses the same
JSON serializer (``JsonRedisCache``), for code that calls ``cache.get`` directly.

Read after write, even when they race. Each cached key has a generation token
(``gen:<key>``). A write, once committed, deletes the entry and sets a new token. A reader that
missed stores what it read from the database only if the token is still the one it saw before
it read (one atomic script), so a read that overlapped a write can never put the old row back.
Each entry carries the token it was stored under and counts only while that token is current.

A Redis outage. An invalidation that cannot be delivered is written to Postgres
(``cache_invalidations``), and every process applies the recorded ones before it next uses the
cache: at once in the process that lost them, within ``CACHE_REPAIR_SECONDS`` (1 s) in every
other worker and replica. Only the keys written during the outage are touched.

After a Redis error the cache is not tried again in that request, so an unreachable Redis costs
each request at most one socket timeout.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from cachelib.serializers import BaseSerializer
from flask import Flask, current_app, g
from flask_caching.backends.rediscache import RedisCache

from app.extensions import cache, db
from app.sql import insert_skipping_duplicates
from app.telemetry import CacheResult, current_metrics

log = logging.getLogger(__name__)

STORE_KEY = "cache_store"
REPAIR_KEY = "cache_repair"
NO_TOKEN = "0"  # the token of a key no write has touched (or whose token expired)
REPAIR_BATCH = 500

invalidations = sa.Table(
    "cache_invalidations",
    db.metadata,
    sa.Column("cache_key", sa.String(250), primary_key=True),
    sa.Column(
        "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)


# --- JSON, never pickle -----------------------------------------------------------------------


class JsonSerializer(BaseSerializer):
    """Cachelib serializer for Redis: JSON in, JSON out; anything else reads as a miss."""

    def dumps(self, value: Any, *args: Any, **kwargs: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    def loads(self, value: bytes | None, *args: Any, **kwargs: Any) -> Any:
        return decode(value)


def decode(raw: bytes | None) -> Any:
    """A cached JSON value, or None for a missing or foreign (non-JSON) entry."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        log.warning("cache entry is not JSON: ignored", extra={"bytes": len(raw)})
        return None


class JsonRedisCache(RedisCache):
    """Flask-Caching's Redis backend with the JSON serializer (CACHE_TYPE points here)."""

    serializer = JsonSerializer()


# --- Stores: where entries and tokens live --------------------------------------------------


class Store(Protocol):
    def read(self, key: str) -> tuple[bytes | None, str]: ...
    def store_if_current(self, key: str, token: str, payload: bytes, ttl: int) -> None: ...
    def invalidate(self, keys: list[str], ttl: int) -> None: ...
    def ping(self) -> bool: ...


STORE_IF_CURRENT = """
local current = redis.call('GET', KEYS[2]) or ARGV[4]
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
INVALIDATE = """
for i = 1, #KEYS, 2 do
  redis.call('DEL', KEYS[i])
  redis.call('SET', KEYS[i + 1], ARGV[1], 'EX', ARGV[2])
end
return #KEYS / 2
"""


class RedisStore:
    """Entries and tokens in Redis; the conditional store and the invalidation are scripts."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._store = client.register_script(STORE_IF_CURRENT)
        self._invalidate = client.register_script(INVALIDATE)

    def _keys(self, key: str) -> list[str]:
        return [f"{self.prefix}{key}", f"{self.prefix}gen:{key}"]

    def read(self, key: str) -> tuple[bytes | None, str]:
        payload, token = self.client.mget(self._keys(key))
        return payload, token.decode() if token else NO_TOKEN

    def store_if_current(self, key: str, token: str, payload: bytes, ttl: int) -> None:
        self._store(keys=self._keys(key), args=[token, payload, ttl, NO_TOKEN])

    def invalidate(self, keys: list[str], ttl: int) -> None:
        self._invalidate(keys=[k for key in keys for k in self._keys(key)],
                         args=[uuid.uuid4().hex, ttl])  # fmt: skip

    def ping(self) -> bool:
        return bool(self.client.ping())


class MemoryStore:
    """The same semantics in process memory: development without Redis, and the unit tests."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def _get(self, key: str) -> bytes | None:
        value = self._data.get(key)
        if value is None or value[1] < time.monotonic():
            return None
        return value[0]

    def read(self, key: str) -> tuple[bytes | None, str]:
        with self._lock:
            token = self._get(f"gen:{key}")
            return self._get(key), token.decode() if token else NO_TOKEN

    def store_if_current(self, key: str, token: str, payload: bytes, ttl: int) -> None:
        with self._lock:
            current = self._get(f"gen:{key}")
            if (current.decode() if current else NO_TOKEN) == token:
                self._data[key] = (payload, time.monotonic() + ttl)

    def invalidate(self, keys: list[str], ttl: int) -> None:
        token = uuid.uuid4().hex.encode()
        with self._lock:
            for key in keys:
                self._data.pop(key, None)
                self._data[f"gen:{key}"] = (token, time.monotonic() + ttl)

    def ping(self) -> bool:
        return True


def init_cache_store(app: Flask) -> None:
    """Bind the store that matches Flask-Caching's backend: Redis, or memory."""
    backend = app.extensions["cache"][cache]
    client = getattr(backend, "_write_client", None)
    store: Store = (
        RedisStore(client, app.config["CACHE_KEY_PREFIX"]) if client is not None else MemoryStore()
    )
    app.extensions[STORE_KEY] = store
    app.extensions[REPAIR_KEY] = RepairState()


def current_store() -> Store:
    store: Store = current_app.extensions[STORE_KEY]
    return store


# --- Reads and writes, for one request --------------------------------------------------------


@dataclass(frozen=True)
class CacheRead:
    """What a read found: the value (None on a miss) and the token to store under."""

    value: Any
    token: str | None


def _count(result: CacheResult) -> None:
    state = current_metrics()
    if state is not None:
        state.count_cache(result)


def _usable() -> bool:
    return not g.get("cache_failed", False)


def _failed(operation: str, exc: Exception) -> None:
    if _usable():
        log.warning(
            "cache unavailable, continuing without it",
            extra={"operation": operation, "error": type(exc).__name__},
        )
    g.cache_failed = True


def _timeout(timeout: int | None) -> int:
    return int(timeout or current_app.config["CACHE_DEFAULT_TIMEOUT"])


def cache_read(key: str) -> CacheRead:
    """The entry for KEY if it is current, and the token a later store must present."""
    if not _usable() or not repair_lost_invalidations():
        _count("error")
        return CacheRead(None, None)
    try:
        payload, token = current_store().read(key)
    except Exception as exc:
        _failed("read", exc)
        _count("error")
        return CacheRead(None, None)
    entry = decode(payload)
    if isinstance(entry, dict) and entry.get("t") == token and "v" in entry:
        _count("hit")
        return CacheRead(entry["v"], token)
    _count("miss")
    return CacheRead(None, token)


def cache_store(key: str, read: CacheRead, value: Any, timeout: int | None = None) -> None:
    """Store VALUE (read from the database after READ) unless a write has happened since."""
    if read.token is None or not _usable():
        return
    payload = json.dumps({"t": read.token, "v": value}, separators=(",", ":")).encode()
    try:
        current_store().store_if_current(key, read.token, payload, _timeout(timeout))
    except Exception as exc:
        _failed("store", exc)


def cache_invalidate(*keys: str) -> None:
    """After a committed write: drop the entries and turn their tokens over. If Redis cannot
    take that, record it in Postgres for whichever process next finds Redis usable."""
    if _usable():
        try:
            current_store().invalidate(list(keys), 2 * _timeout(None))
            return
        except Exception as exc:
            _failed("invalidate", exc)
    _record_lost(keys)


# --- Lost invalidations -----------------------------------------------------------------------


class RepairState:
    """When this process last looked for lost invalidations, and whether it has lost some."""

    def __init__(self) -> None:
        self.checked_at = float("-inf")
        self.lost_here = False
        self.lock = threading.Lock()


def _record_lost(keys: tuple[str, ...]) -> None:
    table = invalidations
    try:
        with db.engine.begin() as connection:
            rows = [{"cache_key": key} for key in keys]
            connection.execute(insert_skipping_duplicates(table), rows)
    except Exception:
        log.error("a cache invalidation was lost and could not be recorded", exc_info=True)
        return
    current_app.extensions[REPAIR_KEY].lost_here = True


def repair_lost_invalidations() -> bool:
    """Apply recorded invalidations when due; False if the cache must not be used now."""
    state: RepairState = current_app.extensions[REPAIR_KEY]
    interval = current_app.config["CACHE_REPAIR_SECONDS"]
    if not state.lost_here and time.monotonic() - state.checked_at < interval:
        return True
    if not state.lock.acquire(blocking=False):
        return not state.lost_here  # another thread repairs: wait for it only if it is ours
    try:
        with db.engine.begin() as connection:
            keys = list(
                connection.scalars(sa.select(invalidations.c.cache_key).limit(REPAIR_BATCH))
            )
            if keys:
                current_store().invalidate(keys, 2 * _timeout(None))
                connection.execute(
                    invalidations.delete().where(invalidations.c.cache_key.in_(keys))
                )
                log.info("lost cache invalidations applied", extra={"keys": len(keys)})
        state.lost_here = len(keys) == REPAIR_BATCH
        state.checked_at = time.monotonic()
        return True
    except Exception as exc:
        _failed("repair", exc)
        return False
    finally:
        state.lock.release()
