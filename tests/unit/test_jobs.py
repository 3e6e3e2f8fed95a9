"""The job machinery: the schedule on the clock, the healthcheck's verdicts, and Celery's
settings, each under the name Celery reads with the value the app's configuration gives it,
among them those that make a job survive its worker (app/jobs/)."""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Blueprint, Flask

from app import create_jobs_app
from app.config import get_config
from app.jobs import (
    EXTENSION_KEY,
    QUEUE,
    Jobs,
    Periodic,
    celery_settings,
    healthcheck,
    make_celery,
)
from app.jobs.runs import claim_period
from app.jobs.schedule import every, period_of
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
JOBS = {
    "JOBS_BROKER_URL": "redis://queue:6390/3",
    "BROKER_TIMEOUT": "3",
    "JOB_VISIBILITY_TIMEOUT": "90",
    "WORKER_CONCURRENCY": "4",
    "IMPORT_EXPIRY_INTERVAL_SECONDS": "600",
}


def conf(**changes: str):
    """Celery's settings (its conf) for the worker and the scheduler, with JOBS and CHANGES."""
    config = get_config("production", environ={**JOBS, **changes}, jobs_only=True)
    return make_celery(config).conf


def test_periods_are_counted_on_the_clock():
    assert period_of(3599.9, 3600) == 0
    assert period_of(3600.0, 3600) == 1
    assert period_of(7200.5, 60) == 120


def test_every_is_due_once_the_clock_enters_a_new_period(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 7200.0 + 30)  # 30 s into period 120 of 60 s
    schedule = every(60)
    same = schedule.is_due(datetime.fromtimestamp(7200.0 + 1, UTC))
    assert (same.is_due, round(same.next, 3)) == (False, 30.0)
    previous = schedule.is_due(datetime.fromtimestamp(7199.0, UTC))
    assert previous.is_due
    naive_utc = schedule.is_due(datetime.fromtimestamp(7199.0, UTC).replace(tzinfo=None))
    assert naive_utc.is_due


def test_a_job_is_acknowledged_when_it_ends_and_handed_back_if_its_worker_dies():
    settings = celery_settings(get_config("testing", environ={}))
    assert settings["task_acks_late"] and settings["task_reject_on_worker_lost"]
    assert settings["worker_prefetch_multiplier"] == 1
    assert settings["accept_content"] == ["json"]
    assert settings["broker_transport_options"]["visibility_timeout"] == 60
    assert settings["task_publish_retry"] is False


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


def test_the_job_machinery_names_no_job_of_its_own() -> None:
    """The jobs are the blueprints': a fork that removes one removes its jobs with it."""
    settings = conf()
    assert settings.imports == ()
    assert settings.beat_schedule == {}


def test_a_blueprints_jobs_reach_the_celery_of_every_app_that_registers_it() -> None:
    blueprint = Blueprint("with_jobs", __name__)
    tick = Periodic("tests.tick", "JOB_VISIBILITY_TIMEOUT")
    Jobs(tasks="tests.unit.test_jobs", periodic={"tick": tick}).register(blueprint)
    for app in (
        build_app(),
        create_jobs_app(get_config("production", environ=JOBS, jobs_only=True)),
    ):
        app.register_blueprint(blueprint)
        settings = app.extensions[EXTENSION_KEY].conf
        assert settings.imports[-1] == "tests.unit.test_jobs"
        assert settings.beat_schedule["tick"]["task"] == "tests.tick"
        interval = settings.beat_schedule["tick"]["schedule"].run_every.total_seconds()
        assert interval == app.config["JOB_VISIBILITY_TIMEOUT"]


def test_the_worker_and_the_scheduler_have_the_jobs_of_app_imports() -> None:
    celery = build_app().extensions[EXTENSION_KEY]
    assert celery.conf.imports == ("app.imports.tasks",)
    celery.loader.import_default_modules()  # what `celery worker` does at start
    assert {"imports.run", "imports.expire"} <= set(celery.tasks)
    config = get_config("production", environ=JOBS, jobs_only=True)
    entry = create_jobs_app(config).extensions[EXTENSION_KEY].conf.beat_schedule["expire-imports"]
    assert entry["task"] == "imports.expire"
    assert entry["schedule"].run_every.total_seconds() == 600


def test_the_broker_url_carries_the_user_and_the_quoted_password(tmp_path):
    secret = tmp_path / "broker_password"
    secret.write_text("p@ss/word\n")
    config = get_config("production", environ={
        "BROKER_USER": "worker", "BROKER_PASSWORD_FILE": str(secret)}, jobs_only=True)  # fmt: skip
    assert config.JOBS_BROKER_URL == "redis://worker:p%40ss%2Fword@broker:6379/0"


def test_no_setting_is_read_by_the_celery_command_behind_the_apps_back():
    """The `celery` command takes options from the environment (BROKER_URL becomes --broker,
    overriding the URL with credentials that app/config.py builds): no setting of ours may
    share a name with them."""
    from celery.bin.celery import celery as command

    celery_reads = {name for option in command.params for name in [option.envvar] if name}
    assert "BROKER_URL" in celery_reads  # the collision this guards against still exists
    ours = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert "JOBS_BROKER_URL" in ours
    assert not ours & celery_reads, ours & celery_reads


def test_celery_leaves_the_apps_logging_alone():
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    root.setLevel(logging.INFO)
    try:
        celery = make_celery(get_config("testing", environ={}))
        celery.log.setup(loglevel="WARNING")  # what `celery worker` does at start
        assert root.level == logging.INFO
    finally:
        root.setLevel(before[0])
        root.handlers[:] = before[1]


@pytest.mark.parametrize("check", ["broker", "worker"])
def test_the_healthcheck_is_unhealthy_when_the_broker_does_not_answer(monkeypatch, capsys, check):
    monkeypatch.setenv("FLASK_CONFIG", "production")
    monkeypatch.setenv("JOBS_BROKER_URL", "redis://127.0.0.1:9/0")  # discard: refused
    monkeypatch.setenv("BROKER_TIMEOUT", "0.5")
    assert healthcheck.main([check]) == 1
    assert capsys.readouterr().err == "healthcheck: the broker is unreachable (OperationalError)\n"


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


def test_a_period_is_claimed_once_and_the_next_one_again(app: Flask):
    with app.app_context():
        assert claim_period("job", 60, now=6000.0) == 100
        assert claim_period("job", 60, now=6059.9) is None
        assert claim_period("other", 60, now=6059.9) == 100
        assert claim_period("job", 60, now=6060.0) == 101


def test_celerys_signal_handler_notices_are_lines_of_the_log_schema(capfd, monkeypatch) -> None:
    """The worker's entry routes Celery's `safe_say` (its "Warm shutdown" notice, written
    straight to the file descriptor) to one JSON line of the schema on stdout."""
    import celery.apps.worker

    from app.jobs import notices

    monkeypatch.setattr(celery.apps.worker, "safe_say", celery.apps.worker.safe_say)
    notices.install()
    assert "notices.install()" in (Path(__file__).parents[2] / "app/jobs/worker.py").read_text()
    celery.apps.worker.safe_say("worker: Warm shutdown (MainProcess)", sys.__stdout__)
    out = capfd.readouterr().out
    [line] = [json.loads(text) for text in out.splitlines()]
    assert list(line)[:5] == ["timestamp", "level", "logger", "message", "pid"]
    assert (line["level"], line["message"]) == ("INFO", "worker: Warm shutdown (MainProcess)")
