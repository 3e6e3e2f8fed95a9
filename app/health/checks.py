"""Dependency checks for /health, each bounded by a short timeout, and shared for a moment.

A flood of /health calls must not become a flood of database connections: each process runs
the checks at most once per HEALTH_CACHE_SECONDS (1 s), and concurrent callers wait for that
one run instead of starting their own.
"""

from __future__ import annotations

import logging
import threading
import time

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from app.caching import current_store
from app.extensions import db

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2
_ENGINE_KEY = "health_engine"
_RESULT_KEY = "health_result"
_lock = threading.Lock()


def dependencies() -> tuple[bool, bool]:
    """(database ok, cache ok), checked at most once per HEALTH_CACHE_SECONDS per process."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ttl = app.config.get("HEALTH_CACHE_SECONDS", 0)
    with _lock:
        checked_at, result = app.extensions.get(_RESULT_KEY, (float("-inf"), (False, False)))
        if time.monotonic() - checked_at >= ttl:
            result = (database_ok(), cache_ok())
            app.extensions[_RESULT_KEY] = (time.monotonic(), result)
    return result


def _health_engine() -> Engine:
    """An engine without a pool, so a check never queues behind busy request connections."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    engine: Engine | None = app.extensions.get(_ENGINE_KEY)
    if engine is not None:
        return engine
    timeout_ms = CHECK_TIMEOUT_SECONDS * 1000
    engine = sa.create_engine(
        db.engine.url,
        poolclass=NullPool,
        connect_args={
            "connect_timeout": CHECK_TIMEOUT_SECONDS,
            "options": f"-c statement_timeout={timeout_ms}",
        },
    )
    app.extensions[_ENGINE_KEY] = engine
    return engine


def database_ok() -> bool:
    """``SELECT 1`` on a fresh connection (connect and statement each capped at 2 s)."""
    try:
        with _health_engine().connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:
        log.warning("health: database check failed", extra={"error": type(exc).__name__})
        return False
    return True


def cache_ok() -> bool:
    """``PING`` the cache's store (Redis: socket timeouts of 1 s)."""
    try:
        return current_store().ping()
    except Exception as exc:
        log.warning("health: cache check failed", extra={"error": type(exc).__name__})
        return False
