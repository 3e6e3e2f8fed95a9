"""Request ids, set before any other hook and handed to Sentry and the code, and the JSON lines:
the access line with its duration in milliseconds, and the fields every line has."""

from __future__ import annotations

import json
import logging
import re
import sys
from types import SimpleNamespace
from typing import Any

import pytest
import sentry_sdk
from flask import Flask
from flask.testing import FlaskClient

from app import request_log
from app.logs import JsonFormatter, configure_logging
from app.request_log import current_request_id, request_id_from
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit

ACCESS_FIELDS = {
    "timestamp",
    "level",
    "logger",
    "message",
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "remote_addr",
    "user_agent",
}


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "app.access"]


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        ("abcdef12", True),
        ("req-2024.01_ABC", True),
        ("a" * 128, True),
        ("short", False),
        ("a" * 7, False),
        ("a" * 129, False),
        ("has space in it", False),
        ("semi;colon-123", False),
        (None, False),
    ],
)
def test_request_id_is_kept_only_when_well_formed(header: str | None, kept: bool) -> None:
    result = request_id_from(header)
    if kept:
        assert result == header
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", result)


def test_access_line_has_every_field_and_the_incoming_request_id(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client.get("/api/items?limit=5", headers={"X-Request-ID": "test-id-0001", "User-Agent": "ua/1"})
    (line,) = access_lines(caplog)
    assert set(line) >= ACCESS_FIELDS
    assert line["logger"] == "app.access"
    assert line["level"] == "INFO"
    assert line["request_id"] == "test-id-0001"
    assert line["method"] == "GET"
    assert line["path"] == "/api/items"
    assert line["status"] == 200
    assert line["user_agent"] == "ua/1"
    assert isinstance(line["duration_ms"], float)
    assert str(line["timestamp"]).endswith("Z")


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


def test_one_access_line_per_request_errors_included(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client.get("/api/items/12345")
    client.post("/api/items", data="x", content_type="text/plain")
    client.get("/")
    statuses = [line["status"] for line in access_lines(caplog)]
    assert statuses == [404, 415, 200]


def access_line_of(client: FlaskClient, caplog: pytest.LogCaptureFixture, **headers: str) -> dict:
    """The access line of one GET /healthz sent with these headers."""
    caplog.set_level(logging.INFO)
    client.get("/healthz", headers={name.replace("_", "-"): v for name, v in headers.items()})
    (line,) = access_lines(caplog)
    return line


def test_malformed_request_id_is_replaced(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    line = access_line_of(client, caplog, X_Request_ID="bad id!")
    assert re.fullmatch(r"[0-9a-f]{32}", str(line["request_id"]))


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


def test_the_app_does_not_set_x_request_id_on_responses(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abcdefgh-1"})
    assert "X-Request-ID" not in response.headers


def test_remote_addr_is_the_one_nginx_appended_not_the_clients_claim(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    # A client claims 198.51.100.7; nginx (the one trusted proxy) appends the real peer.
    line = access_line_of(client, caplog, X_Forwarded_For="198.51.100.7, 203.0.113.9")
    assert line["remote_addr"] == "203.0.113.9"


def test_logs_are_json_lines_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    app = build_app()
    capsys.readouterr()
    app.test_client().get("/healthz", headers={"X-Request-ID": "stdout-check-1"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    access = [line for line in lines if line["logger"] == "app.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "stdout-check-1"
    assert {"timestamp", "level", "logger", "message"} <= set(access[0])


def test_every_json_line_has_its_message_and_process_id() -> None:
    record = logging.getLogger("app.test").makeRecord(
        "app.test", logging.INFO, __file__, 1, "hello %s", ("world",), None
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello world"
    assert line["pid"] == record.process
    assert list(line)[:5] == ["timestamp", "level", "logger", "message", "pid"]


def test_exceptions_are_logged_as_json_with_the_traceback() -> None:
    logger = logging.getLogger("app.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            "app.test", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "ERROR"
    assert "ValueError: boom" in line["exc_info"]


def test_logging_is_at_info_unless_told_otherwise() -> None:
    root = logging.getLogger()
    level = root.level
    try:
        configure_logging()
        assert root.level == logging.INFO
    finally:
        root.setLevel(level)


def test_configure_logging_adds_no_second_json_handler_under_gunicorn() -> None:
    import logging.config

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        # What gunicorn's logconfig_dict installs on the root logger before workers fork.
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
                "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "json"}},
                "root": {"level": "INFO", "handlers": ["out"]},
            }
        )
        configure_logging("WARNING")
        configure_logging("INFO")
        assert len(root.handlers) == 1
        assert root.level == logging.INFO
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_every_line_written_during_a_request_carries_its_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = build_app()

    @app.get("/noisy")
    def noisy() -> str:
        logging.getLogger("app.noisy").warning("something worth a line")
        return "ok"

    capsys.readouterr()
    app.test_client().get("/noisy", headers={"X-Request-ID": "noisy-request-1"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    (warning,) = [line for line in lines if line["logger"] == "app.noisy"]
    assert warning["request_id"] == "noisy-request-1"
    outside = logging.getLogger("app.noisy").makeRecord(
        "app.noisy", logging.INFO, __file__, 1, "no request here", (), None
    )
    assert "request_id" not in json.loads(JsonFormatter().format(outside))


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
