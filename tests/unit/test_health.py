"""Liveness and readiness endpoints."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
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


def test_health_reports_the_configured_version() -> None:
    app = build_app(APP_VERSION="2.3.4")
    assert app.test_client().get("/health").get_json()["version"] == "2.3.4"


def test_a_flood_of_health_checks_opens_one_database_check_per_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.health import checks

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
    from app.health import checks

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
