"""The worker's metrics, for Prometheus's job ``worker``.

Each pool process counts the jobs it runs (prometheus_client's multiprocess mode, in
PROMETHEUS_MULTIPROC_DIR); the main process serves the sum on METRICS_PORT (9100), with the
queue read from the broker at each scrape:

  app_jobs_total{task, outcome}           outcome: succeeded | failed | retried
  app_job_duration_seconds{task}          from start to end of a run
  app_jobs_queued{queue}                  jobs waiting
  app_jobs_oldest_queued_seconds{queue}   how long the oldest waiting job has waited
  app_jobs_broker_up                      whether the last read of the queue succeeded
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_shutdown
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.jobs import QUEUE

log = logging.getLogger(__name__)
OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}

JOBS = Counter("app_jobs", "Jobs run by the worker, by task and outcome", ["task", "outcome"])
DURATION = Histogram(
    "app_job_duration_seconds",
    "How long a job ran",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
_started: dict[str, float] = {}


@task_prerun.connect
def _job_started(task_id: str, **_: Any) -> None:
    _started[task_id] = time.monotonic()


@task_postrun.connect
def _job_ended(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        DURATION.labels(task=task.name).observe(time.monotonic() - started)
    if state in OUTCOMES:
        JOBS.labels(task=task.name, outcome=OUTCOMES[state]).inc()


@worker_process_shutdown.connect
def _pool_process_ended(pid: int | None = None, **_: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid or os.getpid())


class QueueCollector(Collector):
    """The queue's length and the age of its oldest job, read from the broker per scrape."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("app_jobs_broker_up", "Whether the broker answered this scrape")
        try:
            length, oldest = self._read()
        except Exception as error:  # any failure means: the broker is not up
            log.warning("metrics: the broker did not answer", extra={"error": type(error).__name__})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queued = GaugeMetricFamily("app_jobs_queued", "Jobs waiting in the queue", labels=["queue"])
        queued.add_metric([QUEUE], length)
        yield queued
        age = GaugeMetricFamily(
            "app_jobs_oldest_queued_seconds",
            "How long the oldest waiting job has waited (0 when none waits)",
            labels=["queue"],
        )
        age.add_metric([QUEUE], max(time.time() - oldest, 0.0) if oldest else 0.0)
        yield age

    def _read(self) -> tuple[int, float | None]:
        with self.celery.connection_for_read() as connection:
            client = connection.default_channel.client
            length = int(client.llen(QUEUE))
            # Jobs are pushed on the left and taken from the right: the oldest is last.
            raw = client.lindex(QUEUE, -1)
        if raw is None:
            return length, None
        headers = json.loads(raw).get("headers") or {}
        enqueued = headers.get("enqueued_at")
        return length, float(enqueued) if enqueued is not None else None


@worker_init.connect
def _serve_metrics(sender: Any = None, **_: Any) -> None:
    """In the worker's main process, before the pool starts: serve the metrics."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(QueueCollector(sender.app))
    port = int(os.environ.get("METRICS_PORT", "9100"))
    start_http_server(port, registry=registry)
    log.info("metrics: serving the worker's metrics", extra={"port": port})
