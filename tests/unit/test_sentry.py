"""Sentry: off without a DSN, started with the app's settings and no personal data with one;
events carry the request id."""

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


def test_sentry_is_not_initialised_without_a_dsn(app: Flask) -> None:
    assert init_sentry(app) is False


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


@pytest.mark.parametrize(
    ("event", "tagged"),
    [
        (
            {"tags": {"other": "x"}},
            {"tags": {"other": "x", "request_id": "abcdef123456"}},
        ),
        # An event without tags gets them.
        ({"message": "x"}, {"message": "x", "tags": {"request_id": "abcdef123456"}}),
    ],
)
def test_events_are_tagged_with_the_request_id(
    app: Flask, event: dict[str, Any], tagged: dict[str, Any]
) -> None:
    with app.test_request_context("/health"):
        g.request_id = "abcdef123456"
        assert before_send(event, {}) == tagged


def test_events_outside_a_request_pass_unchanged() -> None:
    assert before_send({"message": "x"}, {}) == {"message": "x"}
