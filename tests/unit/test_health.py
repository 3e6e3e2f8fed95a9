"""Liveness and readiness endpoints, the checks behind them (the database's on its own unpooled
engine with short timeouts), and what a failed check logs."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.pool import NullPool

from app import create_app
from app.extensions import db
from app.health import checks
from app.version import __version__
from tests.unit.conftest import build_app
from tests.unit.test_cache import BrokenStore, swap_store
from tests.unit.test_errors import UNREACHABLE_POSTGRES

pytestmark = pytest.mark.unit


def test_healthz_is_ok_without_checking_anything(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_health_is_healthy_when_everything_answers(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "healthy",
        "database": "connected",
        "cache": "connected",
        "version": __version__,
    }


def test_health_is_degraded_when_the_cache_fails(app: Flask, client: FlaskClient) -> None:
    swap_store(app, BrokenStore())
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
    assert response.get_json()["cache"] == "disconnected"
    assert response.get_json()["database"] == "connected"


def test_health_is_unhealthy_503_when_the_database_fails() -> None:
    app = create_app({"FLASK_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": UNREACHABLE_POSTGRES})
    started = time.monotonic()
    response = app.test_client().get("/health")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unhealthy"
    assert body["database"] == "disconnected"
    assert body["cache"] == "connected"
    assert app.test_client().get("/healthz").status_code == 200


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


def test_health_reports_the_configured_version() -> None:
    app = build_app(APP_VERSION="2.3.4")
    assert app.test_client().get("/health").get_json()["version"] == "2.3.4"


def test_a_flood_of_health_checks_opens_one_database_check_per_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(checks, "database_ok", lambda: calls.append("db") or True)
    monkeypatch.setattr(checks, "cache_ok", lambda: calls.append("cache") or True)
    app = build_app(HEALTH_CACHE_SECONDS=60)
    client = app.test_client()
    assert {client.get("/health").status_code for _ in range(20)} == {200}
    assert calls == ["db", "cache"]
    app.config["HEALTH_CACHE_SECONDS"] = 0
    client.get("/health")
    assert calls == ["db", "cache", "db", "cache"]


def test_the_checks_run_again_after_the_production_default_of_one_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """security.md and contract.md: one check a second per process, at the default."""
    from types import SimpleNamespace

    from app.config import get_config

    default = get_config(
        environ={"FLASK_CONFIG": "production", "SECRET_KEY": "k" * 48, "POSTGRES_PASSWORD": "pw"}
    ).HEALTH_CACHE_SECONDS
    calls: list[str] = []
    now = [1000.0]
    monkeypatch.setattr(checks, "database_ok", lambda: calls.append("db") or True)
    monkeypatch.setattr(checks, "cache_ok", lambda: calls.append("cache") or True)
    monkeypatch.setattr(checks, "time", SimpleNamespace(monotonic=lambda: now[0]))
    client = build_app(HEALTH_CACHE_SECONDS=default).test_client()
    for at in (1000.0, 1000.5, 1000.99):
        now[0] = at
        assert client.get("/health").status_code == 200
    assert calls == ["db", "cache"]
    now[0] = 1001.0
    assert client.get("/health").status_code == 200
    assert calls == ["db", "cache", "db", "cache"]
