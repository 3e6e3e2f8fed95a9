"""Health checks, in the detail mutation testing asked for: the engine the database check uses
against Postgres, and what a failed check logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.pool import NullPool

from app import create_app
from app.extensions import db
from app.health import checks
from tests.unit.test_cache import BrokenStore, swap_store
from tests.unit.test_errors import UNREACHABLE_POSTGRES

pytestmark = pytest.mark.unit


def test_the_postgres_check_uses_one_unpooled_engine_with_short_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = create_app({"FLASK_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": UNREACHABLE_POSTGRES})
    created: list[tuple[Any, dict[str, Any]]] = []
    real_create_engine = sa.create_engine

    def spy(url: Any, **options: Any) -> Any:
        created.append((url, options))
        return real_create_engine(url, **options)

    monkeypatch.setattr(sa, "create_engine", spy)
    with app.app_context():
        engine = checks._health_engine()
        assert checks._health_engine() is engine
        assert engine is not db.engine
        assert isinstance(engine.pool, NullPool)
        assert engine.url == db.engine.url
        engine.dispose()
        [(url, options)] = created
        assert url == db.engine.url
    assert options == {
        "poolclass": NullPool,
        "connect_args": {"connect_timeout": 2, "options": "-c statement_timeout=2000"},
    }


def test_failed_checks_are_logged_with_the_error_type(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    swap_store(app, BrokenStore())
    unreachable = create_app(
        {"FLASK_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": UNREACHABLE_POSTGRES}
    )
    caplog.clear()
    with app.app_context():
        assert checks.cache_ok() is False
    with unreachable.app_context():
        assert checks.database_ok() is False
    warnings = {
        r.getMessage(): r.error  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "app.health.checks" and r.levelno == logging.WARNING
    }
    assert warnings == {
        "health: cache check failed": "ConnectionError",
        "health: database check failed": "OperationalError",
    }
