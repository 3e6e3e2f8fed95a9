"""Sentry, in the detail mutation testing asked for: what the SDK is started with."""

from __future__ import annotations

from typing import Any

import pytest
import sentry_sdk
from flask import Flask, g
from sentry_sdk.integrations.flask import FlaskIntegration

from app.sentry import before_send, init_sentry
from app.version import __version__
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit


def test_a_dsn_starts_the_sdk_with_the_apps_settings_and_no_personal_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda **options: calls.append(options))
    app = build_app(
        SENTRY_DSN="https://key@sentry.example/1",
        SENTRY_ENVIRONMENT="staging",
        SENTRY_TRACES_SAMPLE_RATE=0.2,
    )
    calls.clear()  # create_app already started it once
    assert init_sentry(app) is True
    [options] = calls
    [integration] = options.pop("integrations")
    assert isinstance(integration, FlaskIntegration)
    assert options == {
        "dsn": "https://key@sentry.example/1",
        "environment": "staging",
        "release": __version__,
        "traces_sample_rate": 0.2,
        "send_default_pii": False,
        "before_send": before_send,
    }


def test_an_event_without_tags_gets_the_request_id(app: Flask) -> None:
    with app.test_request_context("/"):
        g.request_id = "abcdef123456"
        assert before_send({"message": "x"}, {}) == {
            "message": "x",
            "tags": {"request_id": "abcdef123456"},
        }
