"""Sentry: off without a DSN; events carry the request id."""

from __future__ import annotations

import pytest
from flask import Flask, g

from app.sentry import before_send, init_sentry

pytestmark = pytest.mark.unit


def test_sentry_is_not_initialised_without_a_dsn(app: Flask) -> None:
    assert init_sentry(app) is False


def test_events_are_tagged_with_the_request_id(app: Flask) -> None:
    with app.test_request_context("/api/items"):
        g.request_id = "abcdef123456"
        event = before_send({"tags": {"other": "x"}}, {})
    assert event["tags"] == {"other": "x", "request_id": "abcdef123456"}


def test_events_outside_a_request_pass_unchanged() -> None:
    assert before_send({"message": "x"}, {}) == {"message": "x"}
