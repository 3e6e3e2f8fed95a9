"""Sentry error reporting, enabled only when SENTRY_DSN is set."""

from __future__ import annotations

from typing import Any

import sentry_sdk
from flask import Flask, g, has_request_context
from sentry_sdk.integrations.flask import FlaskIntegration


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Tag the event with the request id so it can be found in the JSON logs."""
    if has_request_context() and g.get("request_id"):
        event.setdefault("tags", {})["request_id"] = g.request_id
    return event


def init_sentry(app: Flask) -> bool:
    """Initialise the SDK from the app config; return whether it was enabled."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration()],
        environment=app.config["SENTRY_ENVIRONMENT"],
        release=app.config["APP_VERSION"],
        traces_sample_rate=app.config["SENTRY_TRACES_SAMPLE_RATE"],
        send_default_pii=False,
        before_send=before_send,  # type: ignore[arg-type]
    )
    return True
