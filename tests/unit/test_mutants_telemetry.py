"""Metrics, in the detail mutation testing asked for: each series' help text, the cache series
present at zero from the start, and the pool figures the exhaustion alert divides."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from app.extensions import db
from app.telemetry import MetricsState
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit


def state_of(app: Flask) -> MetricsState:
    state: MetricsState = app.extensions["app_metrics"]
    return state


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


@pytest.mark.parametrize(("max_overflow", "capacity"), [(1, 3.0), (0, 2.0), (-1, 2.0)])
def test_pool_capacity_is_the_pool_size_plus_any_overflow(
    tmp_path: Path, max_overflow: int, capacity: float
) -> None:
    app = build_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'pool.db'}",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 2, "max_overflow": max_overflow},
    )
    assert state_of(app).registry.get_sample_value("app_db_pool_capacity") == capacity
    with app.app_context():
        db.engine.dispose()


def test_returning_one_connection_of_two_leaves_one_in_use(tmp_path: Path) -> None:
    app = build_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'pool.db'}",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 2, "max_overflow": 1},
    )
    registry = state_of(app).registry
    with app.app_context():
        engine = db.engine
        with engine.connect():
            with engine.connect():
                assert registry.get_sample_value("app_db_pool_checked_out") == 2
            assert registry.get_sample_value("app_db_pool_checked_out") == 1
        engine.dispose()
