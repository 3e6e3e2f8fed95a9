"""Celery's settings, in the detail mutation testing asked for: each one reaches Celery under
the name Celery reads, with the value the app's configuration gives it (app/jobs/__init__.py)."""

from __future__ import annotations

import socket

import pytest

from app.config import get_config
from app.jobs import QUEUE, healthcheck, make_celery

pytestmark = pytest.mark.unit

JOBS = {
    "JOBS_BROKER_URL": "redis://queue:6390/3",
    "BROKER_TIMEOUT": "3",
    "JOB_VISIBILITY_TIMEOUT": "90",
    "WORKER_CONCURRENCY": "4",
    "IMPORT_EXPIRY_INTERVAL_SECONDS": "600",
}


def conf(**changes: str):
    config = get_config("production", environ={**JOBS, **changes}, jobs_only=True)
    return make_celery(config).conf


def test_celery_reads_the_broker_and_its_timeouts_from_the_config() -> None:
    settings = conf()
    assert settings.broker_url == "redis://queue:6390/3"
    assert settings.broker_connection_timeout == 3.0
    assert settings.broker_connection_retry_on_startup is True
    assert settings.broker_transport_options == {
        "visibility_timeout": 90,
        # A read may wait longer than a connect: at least 5 s, more if the timeout is longer.
        "socket_timeout": 5.0,
        "socket_connect_timeout": 3.0,
        "socket_keepalive": True,
        "health_check_interval": 25,
    }
    assert conf(BROKER_TIMEOUT="7").broker_transport_options["socket_timeout"] == 7.0


def test_celery_publishes_and_runs_jobs_as_the_app_expects() -> None:
    settings = conf()
    assert settings.task_publish_retry is False
    assert settings.task_default_queue == QUEUE == "jobs"
    assert settings.task_serializer == "json"
    assert settings.accept_content == ["json"]
    assert settings.task_ignore_result is True
    assert settings.result_backend is None
    assert settings.task_acks_late is True
    assert settings.task_reject_on_worker_lost is True
    assert settings.worker_prefetch_multiplier == 1
    assert settings.worker_concurrency == 4
    # The app's logging stays in charge (app/logs.py), and no event stream is sent.
    assert settings.worker_hijack_root_logger is False
    assert settings.worker_redirect_stdouts is False
    assert settings.worker_send_task_events is False
    assert settings.enable_utc is True
    assert settings.imports == ("app.imports.tasks",)


def test_the_scheduler_expires_imports_at_the_configured_interval() -> None:
    entry = conf().beat_schedule["expire-imports"]
    assert entry["task"] == "imports.expire"
    assert entry["schedule"].run_every.total_seconds() == 600


def test_the_healthcheck_pings_this_hosts_worker_by_default(monkeypatch, capsys) -> None:
    """Kombu's in-memory broker (the testing config) answers, but no worker listens on it: the
    broker check passes, the worker check (the default) waits its 3 s and names the worker."""
    monkeypatch.setenv("FLASK_CONFIG", "testing")
    assert healthcheck.main(["broker"]) == 0
    assert capsys.readouterr().err == ""
    assert healthcheck.main([]) == 1
    assert capsys.readouterr().err == (
        f"healthcheck: celery@{socket.gethostname()} did not answer a ping through the broker\n"
    )


def test_the_worker_healthcheck_says_when_the_broker_is_unreachable(monkeypatch, capsys) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "production")
    monkeypatch.setenv("JOBS_BROKER_URL", "redis://127.0.0.1:9/0")  # discard: refused
    monkeypatch.setenv("BROKER_TIMEOUT", "0.5")
    assert healthcheck.main(["worker"]) == 1
    assert capsys.readouterr().err == "healthcheck: the broker is unreachable (OperationalError)\n"
