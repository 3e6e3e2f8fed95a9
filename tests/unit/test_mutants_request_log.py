"""Request ids and the access line, in the detail mutation testing asked for: the duration, the
message, the id handed to Sentry and to the code, and the JSON fields every line has."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
import sentry_sdk
from flask import Flask
from flask.testing import FlaskClient

from app import request_log
from app.logs import JsonFormatter, configure_logging
from app.request_log import current_request_id

pytestmark = pytest.mark.unit


def test_the_access_line_times_the_request_in_milliseconds(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter([100.0, 100.0123456])
    monkeypatch.setattr(request_log, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    caplog.set_level(logging.INFO)
    client.get("/api/items")
    [record] = [r for r in caplog.records if r.name == "app.access"]
    assert record.getMessage() == "GET /api/items 200"
    assert record.duration_ms == 12.35  # type: ignore[attr-defined]


def test_the_request_id_goes_to_sentry_and_to_the_code(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    tags: list[tuple[str, Any]] = []
    monkeypatch.setattr(sentry_sdk, "set_tag", lambda key, value: tags.append((key, value)))
    with app.test_request_context("/", headers={"X-Request-ID": "abcdefgh-1234"}):
        assert current_request_id() is None
        app.preprocess_request()
        assert current_request_id() == "abcdefgh-1234"
    assert tags == [("request_id", "abcdefgh-1234")]


def test_the_request_id_is_set_before_any_other_hook_runs(app: Flask) -> None:
    assert app.before_request_funcs[None][0] is request_log._start


def test_every_json_line_has_its_message_and_process_id() -> None:
    record = logging.getLogger("app.test").makeRecord(
        "app.test", logging.INFO, __file__, 1, "hello %s", ("world",), None
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello world"
    assert line["pid"] == record.process
    assert list(line)[:5] == ["timestamp", "level", "logger", "message", "pid"]


def test_logging_is_at_info_unless_told_otherwise() -> None:
    root = logging.getLogger()
    level = root.level
    try:
        configure_logging()
        assert root.level == logging.INFO
    finally:
        root.setLevel(level)


def test_a_request_id_given_to_a_log_call_wins_over_the_requests(app: Flask) -> None:
    logger = logging.getLogger("app.test")
    with app.test_request_context("/"):
        request_log._start()
        record = logger.makeRecord(
            "app.test", logging.INFO, __file__, 1, "x", (), None, extra={"request_id": "given"}
        )
        plain = logger.makeRecord("app.test", logging.INFO, __file__, 1, "x", (), None)
        assert json.loads(JsonFormatter().format(record))["request_id"] == "given"
        assert json.loads(JsonFormatter().format(plain))["request_id"] == current_request_id()
