"""Prometheus metrics: HTTP defaults from prometheus-flask-exporter plus a few app gauges.

The app never serves ``/metrics`` itself. In the image, PROMETHEUS_MULTIPROC_DIR is set and
each gunicorn worker writes its samples there; the gunicorn master serves them on an internal
port (``GunicornPrometheusMetrics.start_http_server_when_ready`` in ``when_ready`` and
``mark_process_dead_on_child_exit`` in ``child_exit``). Without that variable (unit tests, a
single process) the samples live in a registry of the app's own, read through
``current_metrics().registry``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from flask import Flask, current_app
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornPrometheusMetrics
from sqlalchemy import event
from sqlalchemy.engine import Engine

CacheResult = Literal["hit", "miss", "error"]
EXTENSION_KEY = "app_metrics"


@dataclass(frozen=True)
class MetricsState:
    """The metric objects of one app."""

    exporter: PrometheusMetrics
    registry: CollectorRegistry
    cache_requests: Counter
    pool_checked_out: Gauge
    pool_overflow: Gauge
    pool_capacity: Gauge

    def count_cache(self, result: CacheResult) -> None:
        self.cache_requests.labels(result=result).inc()


class AppMetrics:
    """Extension binding the exporter and the app's own metrics in ``init_app``."""

    def init_app(self, app: Flask, engine: Engine) -> None:
        if app.config.get("PROMETHEUS_MULTIPROC_DIR"):
            # Workers only write samples; path=None keeps /metrics off the app's port.
            exporter: PrometheusMetrics = GunicornPrometheusMetrics.for_app_factory(
                path=None, group_by="url_rule"
            )
        else:
            # A registry per app, so that several apps in one process (tests) do not clash.
            exporter = PrometheusMetrics.for_app_factory(
                path=None, group_by="url_rule", registry=CollectorRegistry(auto_describe=True)
            )
        exporter.init_app(app)
        registry = exporter.registry

        info = Gauge(
            "app_info",
            "Application version (always 1)",
            ["version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        info.labels(version=app.config["APP_VERSION"]).set(1)
        state = MetricsState(
            exporter=exporter,
            registry=registry,
            cache_requests=Counter(
                "app_cache_requests",
                "Cache look-ups by result",
                ["result"],
                registry=registry,
            ),
            pool_checked_out=Gauge(
                "app_db_pool_checked_out",
                "Database connections in use",
                registry=registry,
                multiprocess_mode="livesum",
            ),
            pool_overflow=Gauge(
                "app_db_pool_overflow",
                "Database connections in use beyond the pool size",
                registry=registry,
                multiprocess_mode="livesum",
            ),
            pool_capacity=Gauge(
                "app_db_pool_capacity",
                "Database connections a worker may open (pool size plus overflow)",
                registry=registry,
                multiprocess_mode="livesum",
            ),
        )
        for result in ("hit", "miss", "error"):
            state.cache_requests.labels(result=result)
        _watch_pool(engine, state)
        app.extensions[EXTENSION_KEY] = state


def _watch_pool(engine: Engine, state: MetricsState) -> None:
    """Refresh the pool gauges whenever a connection is checked out or returned."""
    pool = engine.pool
    size, overflow = getattr(pool, "size", None), getattr(pool, "_max_overflow", None)
    if callable(size) and isinstance(overflow, int):
        # The pool-exhaustion alert divides connections in use by this.
        state.pool_capacity.set(size() + max(overflow, 0))

    def refresh(returning: int) -> None:
        pool = engine.pool
        # Only a QueuePool counts; a pool of another kind has no such figures.
        checked_out = getattr(pool, "checkedout", None)
        size = getattr(pool, "size", None)
        if callable(checked_out) and callable(size):
            # The checkin event fires before the pool counts the connection as returned.
            in_use = max(checked_out() - returning, 0)
            state.pool_checked_out.set(in_use)
            state.pool_overflow.set(max(in_use - size(), 0))

    event.listen(engine, "checkout", lambda *_: refresh(0))
    event.listen(engine, "checkin", lambda *_: refresh(1))


def reset_multiproc_dir() -> None:
    """Create PROMETHEUS_MULTIPROC_DIR, empty, so samples of a previous run are never summed
    in. Run by the process that serves the metrics, before its workers start: the gunicorn
    master, the job worker's main process."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    if path.exists():
        for child in path.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    path.mkdir(parents=True, exist_ok=True)


def current_metrics() -> MetricsState | None:
    """The metrics of the current app, or None before they are bound."""
    state: MetricsState | None = current_app.extensions.get(EXTENSION_KEY)
    return state
