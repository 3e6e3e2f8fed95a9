"""Cache access that never fails a request: Redis errors are counted, logged and skipped.

After the first failure in a request the cache is not tried again for that request, so an
unreachable Redis costs each request at most one socket timeout. No state outlives a request
except one flag: when an invalidation could not be delivered, the app's whole cache namespace
is cleared before it is read again, so a write made during an outage never leaves a stale entry
behind once Redis is back.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, g

from app.extensions import cache
from app.telemetry import CacheResult, current_metrics

log = logging.getLogger(__name__)
_DIRTY_KEY = "cache_needs_clear"


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


def _clear_if_dirty() -> bool:
    """Clear the namespace if an invalidation was lost; False if the cache is unusable."""
    if not current_app.extensions.get(_DIRTY_KEY):
        return True
    try:
        cache.clear()
    except Exception as exc:
        _failed("clear", exc)
        return False
    current_app.extensions[_DIRTY_KEY] = False
    return True


def cache_get(key: str) -> Any | None:
    """The cached value, or None on a miss or when the cache is unavailable."""
    if not _usable() or not _clear_if_dirty():
        _count("error")
        return None
    try:
        value = cache.get(key)
    except Exception as exc:
        _failed("get", exc)
        _count("error")
        return None
    _count("miss" if value is None else "hit")
    return value


def cache_set(key: str, value: Any, timeout: int | None = None) -> None:
    """Store a value; a failure only means the next read goes to the database."""
    if not _usable():
        return
    try:
        cache.set(key, value, timeout=timeout)
    except Exception as exc:
        _failed("set", exc)


def cache_delete(*keys: str) -> None:
    """Invalidate keys; if that cannot be delivered, clear everything once Redis is back."""
    if _usable():
        try:
            cache.delete_many(*keys)
            return
        except Exception as exc:
            _failed("delete", exc)
    current_app.extensions[_DIRTY_KEY] = True
