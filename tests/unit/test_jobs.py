"""The job machinery: the schedule on the clock, the healthcheck's verdicts, and the settings
that make a job survive its worker (app/jobs/)."""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.config import get_config
from app.jobs import celery_settings, healthcheck, make_celery
from app.jobs.schedule import every, period_of

pytestmark = pytest.mark.unit

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


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


def test_the_healthcheck_is_unhealthy_when_the_broker_does_not_answer(monkeypatch, capsys):
    monkeypatch.setenv("FLASK_CONFIG", "production")
    monkeypatch.setenv("JOBS_BROKER_URL", "redis://127.0.0.1:9/0")
    monkeypatch.setenv("BROKER_TIMEOUT", "0.5")
    assert healthcheck.main(["broker"]) == 1
    assert "broker is unreachable" in capsys.readouterr().err
