"""Dependency checks for /health, each bounded by a short timeout."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from app.extensions import cache, db

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2
_ENGINE_KEY = "health_engine"


def _health_engine() -> Engine:
    """An engine without a pool, so a check never queues behind busy request connections."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    engine: Engine | None = app.extensions.get(_ENGINE_KEY)
    if engine is not None:
        return engine
    main = db.engine
    if main.dialect.name != "postgresql":
        engine = main  # SQLite (tests, local experiments) has nothing to wait for
    else:
        timeout_ms = CHECK_TIMEOUT_SECONDS * 1000
        engine = sa.create_engine(
            main.url,
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
    """``PING`` Redis (socket timeouts of 1 s); other backends get a set/get round trip."""
    try:
        backend: Any = cache.cache
        client = getattr(backend, "_write_client", None)
        if client is not None:
            return bool(client.ping())
        backend.set("health:probe", "1", timeout=5)
        return bool(backend.get("health:probe") == "1")
    except Exception as exc:
        log.warning("health: cache check failed", extra={"error": type(exc).__name__})
        return False
