"""Metrics: bound without an endpoint on the app, with the app's own series, each described;
the cache series present at zero from the start, and the pool figures the exhaustion alert
divides."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_flask_exporter.multiprocess import GunicornPrometheusMetrics

from app import create_app
from app.extensions import db
from app.telemetry import MetricsState
from app.version import __version__
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit


def state_of(app: Flask) -> MetricsState:
    state: MetricsState = app.extensions["app_metrics"]
    return state


def test_the_app_does_not_serve_metrics(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404


def test_app_info_carries_the_version(app: Flask) -> None:
    registry = state_of(app).registry
    assert registry.get_sample_value("app_info", {"version": __version__}) == 1.0


def test_the_apps_own_series_are_described(app: Flask) -> None:
    helps = {metric.name: metric.documentation for metric in state_of(app).registry.collect()}
    assert {name: helps.get(name) for name in helps if name.startswith("app_")} == {
        "app_info": "Application version (always 1)",
        "app_cache_requests": "Cache look-ups by result",
        "app_db_pool_checked_out": "Database connections in use",
        "app_db_pool_overflow": "Database connections in use beyond the pool size",
        "app_db_pool_capacity": "Database connections a worker may open (pool size plus overflow)",
    }


def test_every_cache_result_is_exported_at_zero_from_the_start(app: Flask) -> None:
    registry = state_of(app).registry
    for result in ("hit", "miss", "error"):
        assert registry.get_sample_value("app_cache_requests_total", {"result": result}) == 0.0


def test_request_metrics_are_grouped_by_route_rule(app: Flask, client: FlaskClient) -> None:
    client.get("/api/items/41")
    client.get("/api/items/42")
    registry = state_of(app).registry
    labels = {"method": "GET", "status": "404", "url_rule": "/api/items/<int:item_id>"}
    assert registry.get_sample_value("flask_http_request_duration_seconds_count", labels) == 2


@pytest.mark.usefixtures("database")
def test_pool_gauges_follow_checkouts() -> None:
    app = build_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 2, "max_overflow": 1})
    registry = state_of(app).registry
    with app.app_context():
        engine = db.engine
        with engine.connect():
            with engine.connect(), engine.connect():
                assert registry.get_sample_value("app_db_pool_checked_out") == 3
                assert registry.get_sample_value("app_db_pool_overflow") == 1
            # Returning two of three leaves one in use.
            assert registry.get_sample_value("app_db_pool_checked_out") == 1
        assert registry.get_sample_value("app_db_pool_checked_out") == 0
        assert registry.get_sample_value("app_db_pool_overflow") == 0
        engine.dispose()


@pytest.mark.parametrize(("max_overflow", "capacity"), [(1, 3.0), (0, 2.0), (-1, 2.0)])
def test_pool_capacity_is_the_pool_size_plus_any_overflow(
    max_overflow: int, capacity: float
) -> None:
    # No connection is made: the engine's pool is sized when the app is built.
    app = build_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 2, "max_overflow": max_overflow})
    assert state_of(app).registry.get_sample_value("app_db_pool_capacity") == capacity
    with app.app_context():
        db.engine.dispose()


def test_multiprocess_mode_uses_the_gunicorn_exporter_without_an_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    app = create_app({"FLASK_CONFIG": "testing", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert isinstance(state_of(app).exporter, GunicornPrometheusMetrics)
    assert state_of(app).exporter.group_by == "url_rule"
    assert app.test_client().get("/metrics").status_code == 404
